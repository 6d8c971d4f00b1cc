#!/usr/bin/env bash
# Prometheus and promtool for the monitoring test (Debian's `prometheus` package), and
# blackbox_exporter, the reference the probe tests and `make bench` run beside /probe (Debian's
# `prometheus-blackbox-exporter`), installed when missing. The packages' own services are not
# started: the tests run their own instances on free ports, so nothing listens on 9090 or 9115.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || missing+=(prometheus-blackbox-exporter)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "prometheus: installing ${missing[*]} (without starting their services)"
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then  # invoke-rc.d asks this file whether a package may start its service
  printf '#!/bin/sh\nexit 101\n' | sudo_ tee "$policy" >/dev/null
  sudo_ chmod 755 "$policy"
  own_policy=1
fi
trap '[ -z "$own_policy" ] || sudo_ rm -f "$policy"' EXIT
sudo_ apt-get update -qq
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
