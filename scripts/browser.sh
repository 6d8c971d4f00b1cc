#!/usr/bin/env bash
# Headless Chromium for the browser tests and screenshots (Debian's package; no downloads).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "browser: installing chromium"
sudo_ apt-get update -qq
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
