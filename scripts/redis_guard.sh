#!/usr/bin/env bash
# Bound a running Redis for route_check's results: every result carries a TTL (RESULT_TTL), so
# when it is full it evicts the results closest to expiring (volatile-ttl) instead of refusing
# every write (noeviction, Redis's default). Written back to the server's config file when it was
# started from one (Debian's systemd unit), so a restart keeps the bound.
# Usage: scripts/redis_guard.sh [PORT]   (REDIS_MAXMEMORY, default 512mb)
set -euo pipefail
port="${1:-6379}"
cli() {
  local answer
  answer="$(redis-cli -h 127.0.0.1 -p "$port" "$@")"
  [ "$answer" = OK ] || { echo "redis_guard: $*: $answer" >&2; return 1; }
}
cli config set maxmemory "${REDIS_MAXMEMORY:-512mb}"
cli config set maxmemory-policy volatile-ttl
cli config rewrite || echo "redis_guard: the bound on port $port lasts until Redis restarts" >&2
