#!/usr/bin/env bash
# `make run`: start RabbitMQ/Redis if needed, then supervisord (foreground) with every program.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
"$VENV_BIN/python" -m scripts.wait_services
mkdir -p var/log var/run
web=$("$VENV_BIN/python" -c 'from web import Settings; s = Settings.from_env(); print(f"{s.host}:{s.port}")')
echo "route_check: web http://$web  flower http://$FLOWER_HOST:$FLOWER_PORT" \
     "supervisor http://$SUPERVISOR_HOST:$SUPERVISOR_PORT  fleet http://$FLEET_HOST:$FLEET_PORT" \
     "(user admin, passwords in $SECRETS_FILE)"
echo "route_check: supervisorctl: .venv/bin/supervisorctl -c supervisord.conf status"
exec "$VENV_BIN/supervisord" -n -c supervisord.conf
