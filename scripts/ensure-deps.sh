#!/usr/bin/env bash
# Installs what `make run` and `make test` need on a fresh Debian machine: npm packages (npm ci,
# only when package-lock.json changed since the last install) and the project's nats-server (2.10 from
# Debian trixie, scripts/nats-server-bin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The project's nats-server (2.10, scripts/nats-server-bin.sh): fetched on first use.
scripts/nats-server-bin.sh >/dev/null
