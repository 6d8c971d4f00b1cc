"""What the long-running servers (the gateway, the fleet dashboard, the bench apps) share."""
