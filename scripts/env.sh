# Source me: what supervisord.conf expands (%(ENV_...)s must be set, or supervisord refuses the
# file), with safe defaults, and the generated secrets. Settings that the programs read themselves
# (BROKER_URL, RESULT_BACKEND, WEB_*, CHECK_ALLOW) have their one default in the Python code that
# reads them (celeryconfig.py, web.py, probe/policy.py); set them here only to override.
# Anything already set in the environment wins. Secrets are generated on first use into
# var/secrets.env (mode 600, git-ignored); there is no default password anywhere.
# shellcheck shell=bash

ROUTE_CHECK_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECRETS_FILE="${SECRETS_FILE:-$ROUTE_CHECK_HOME/var/secrets.env}"

if [ ! -f "$SECRETS_FILE" ]; then
  mkdir -p "$(dirname "$SECRETS_FILE")"
  (
    umask 077
    gen() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))'; }
    {
      echo "# Generated on $(date -u +%FT%TZ) by scripts/env.sh. Keep private; delete to regenerate."
      echo "SUPERVISOR_PASSWORD=$(gen)"
      echo "FLOWER_PASSWORD=$(gen)"
      echo "FLEET_ADMIN_PASSWORD=$(gen)"
    } > "$SECRETS_FILE"
  )
  echo "route_check: generated passwords in $SECRETS_FILE (user 'admin')" >&2
fi

while IFS='=' read -r key value; do
  case "$key" in ''|'#'*) continue ;; esac
  [ -n "${!key:-}" ] || export "$key=$value"
done < "$SECRETS_FILE"

export_default() { [ -n "${!1:-}" ] || export "$1=$2"; }
export_default VENV_BIN "$ROUTE_CHECK_HOME/.venv/bin"
# supervisord imports the fleet dashboard's RPC extension (fleet/rpcinterface.py) from here.
case ":${PYTHONPATH:-}:" in
  *":$ROUTE_CHECK_HOME:"*) ;;
  *) export PYTHONPATH="$ROUTE_CHECK_HOME${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
export_default WEB_PROCESSES "$(nproc)"
export_default ADD_CONCURRENCY "$(nproc)"
export_default CHECK_CONCURRENCY 100
export_default SUPERVISOR_USER admin
export_default SUPERVISOR_HOST 127.0.0.1
export_default SUPERVISOR_PORT 2345
export_default FLOWER_USER admin
export_default FLOWER_HOST 127.0.0.1
export_default FLOWER_PORT 5555
export_default RABBITMQ_API 'http://guest:guest@127.0.0.1:15672/api/'
export_default FLEET_CONFIG "$ROUTE_CHECK_HOME/fleet/examples/fleet.toml"
# supervisord passes its whole environment on to every program and cannot remove a variable: each
# program's environment= blanks, with this list, the passwords it has no use for.
export NO_SECRETS='SUPERVISOR_PASSWORD="",FLOWER_PASSWORD="",FLEET_ADMIN_PASSWORD=""'
# What this machine runs: everything (one machine), the workers only (a worker machine), or the
# gateway, Flower and the fleet dashboard (a front machine). supervisord has no conditional
# sections, so the role becomes each program's autostart.
export_default ROLE all
case "$ROLE" in
  all) export WORKERS_AUTOSTART=true GATEWAY_AUTOSTART=true ;;
  worker) export WORKERS_AUTOSTART=true GATEWAY_AUTOSTART=false ;;
  gateway) export WORKERS_AUTOSTART=false GATEWAY_AUTOSTART=true ;;
  *) echo "route_check: ROLE must be all, worker or gateway, not '$ROLE'" >&2; return 1 ;;
esac
# Where this machine's check worker checks routes from (docs/locations.md): its Celery node is
# check.$LOCATION@host; without LOCATION it is check@host, at the machine's short host name.
if [ -n "${LOCATION:-}" ]; then
  if [ "${#LOCATION}" -gt 64 ] || [[ "$LOCATION" = *[!A-Za-z0-9_-]* ]]; then
    echo "route_check: LOCATION must be 1-64 letters, digits, - or _, not '$LOCATION'" >&2; return 1
  fi
  export CHECK_NODE="check.$LOCATION"
else
  export CHECK_NODE=check
fi
unset -f export_default
