#!/usr/bin/env bash
# Installs what `make run` and `make test` need on a fresh Debian machine: npm packages (npm ci,
# only when package-lock.json changed since the last install) and nats-server (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "nats-server not found: installing Debian package nats-server" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nats-server >/dev/null
  # The package enables a system-wide server on port 4222; this project starts its own.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now nats-server >/dev/null 2>&1 || true
  fi
fi
