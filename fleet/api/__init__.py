"""The JSON API: everything the dashboard does, for scripts too. Listed in fleet/README.md."""
