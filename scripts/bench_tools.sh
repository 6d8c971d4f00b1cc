#!/usr/bin/env bash
# System tools `make bench` needs beyond the venv: wrk, the load generator (Debian package).
# uWSGI comes from PyPI (pyuwsgi, in requirements-dev.txt) so it runs the venv's Python.
# Idempotent: installs only what is missing.
set -euo pipefail

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench_tools: installing wrk"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
