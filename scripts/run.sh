#!/usr/bin/env bash
# `make run`: start RabbitMQ/Redis if needed, then supervisord (foreground) with the programs of
# this machine's ROLE (scripts/env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# One machine runs its own RabbitMQ and Redis; the others use the shared ones that BROKER_URL and
# RESULT_BACKEND name, so nothing is installed or started here.
if [ "$ROLE" = all ]; then bash scripts/services.sh; fi
"$VENV_BIN/python" -m scripts.wait_services
mkdir -p -m 700 var/log var/run
chmod 700 var/log var/run  # made by an earlier run before logs were private
# The web processes' metrics files (supervisord.conf): counters start again from zero with supervisord.
rm -rf var/run/metrics && mkdir var/run/metrics
# The gateway's and the dashboard's defaults live in their Settings; ask them where they listen.
web=$("$VENV_BIN/python" -c 'from web import Settings; s = Settings.from_env(); print(f"{s.host}:{s.port}")')
fleet=$("$VENV_BIN/python" -c 'from fleet.config import Settings; s = Settings.from_env(); print(f"{s.host}:{s.port}")')
echo "route_check: web http://$web  flower http://$FLOWER_HOST:$FLOWER_PORT" \
     "supervisor http://$SUPERVISOR_HOST:$SUPERVISOR_PORT  fleet http://$fleet" \
     "(user admin, passwords in $SECRETS_FILE)"
echo "route_check: supervisorctl: .venv/bin/supervisorctl -c supervisord.conf status"
# Logs for their owner only (task arguments and target URLs appear in them): supervisord makes
# them, and applies its own umask= only when it daemonizes, which -n does not.
umask 077
exec "$VENV_BIN/supervisord" -n -c supervisord.conf
