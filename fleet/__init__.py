"""The fleet dashboard: one web UI for every supervisord of many machines. See fleet/README.md."""
