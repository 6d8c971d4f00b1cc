#!/usr/bin/env bash
# Prometheus and promtool for the monitoring test (Debian's `prometheus` package), installed when
# missing. The package's own service is not started: the test runs its own Prometheus on a free
# port with deploy/prometheus/'s config, so nothing listens on 9090 for everyone.
set -euo pipefail
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && exit 0
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "prometheus: installing prometheus (without starting its service)"
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then  # invoke-rc.d asks this file whether a package may start its service
  printf '#!/bin/sh\nexit 101\n' | sudo_ tee "$policy" >/dev/null
  sudo_ chmod 755 "$policy"
  own_policy=1
fi
trap '[ -z "$own_policy" ] || sudo_ rm -f "$policy"' EXIT
sudo_ apt-get update -qq
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
