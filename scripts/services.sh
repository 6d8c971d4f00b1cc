#!/usr/bin/env bash
# Make sure RabbitMQ and Redis are installed (Debian/Ubuntu packages) and running on this machine.
# Idempotent: installs only what is missing, starts only what is not answering.
set -euo pipefail

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "services: installing ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

systemd_running() { [ -d /run/systemd/system ]; }

# A Redis we start is bounded (scripts/redis_guard.sh says why). A Redis that is already
# running is left as it is: see docs/reliability.md ("With your own Redis, set the same").
REDIS_MAXMEMORY="${REDIS_MAXMEMORY:-512mb}"
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting redis-server (maxmemory $REDIS_MAXMEMORY, volatile-ttl)"
  if systemd_running; then
    sudo_ systemctl start redis-server
    REDIS_MAXMEMORY="$REDIS_MAXMEMORY" bash "$(dirname "$0")/redis_guard.sh" 6379
  else sudo_ redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --appendonly yes \
         --dir /var/lib/redis --logfile /var/log/redis/redis-server.log \
         --maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy volatile-ttl
  fi
fi

if ! sudo_ rabbitmq-diagnostics -q check_running >/dev/null 2>&1; then
  echo "services: starting rabbitmq-server"
  if systemd_running; then sudo_ systemctl start rabbitmq-server
  else sudo_ rabbitmq-server -detached
  fi
fi

# Flower's broker page reads queue lengths from the management API (localhost:15672 only).
if ! sudo_ rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
  sudo_ rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null 2>&1 \
    || sudo_ rabbitmq-plugins enable --offline --quiet rabbitmq_management >/dev/null
fi
