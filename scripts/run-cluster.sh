#!/usr/bin/env bash
# `make cluster`: a local 3-node JetStream cluster (cluster/node-{1,2,3}.conf, with the users of
# nats-auth.conf) in the foreground, data in ./data/cluster, logs in data/cluster/node-N.log.
# Ctrl-C stops the three servers.
# Run service instances against it from other terminals (README.md, "Running on a cluster"), and
# kill or restart a node to see what a node loss costs:
#   kill -9 "$(cat data/cluster/node-2.pid)"      then  scripts/run-cluster.sh --node 2
set -euo pipefail
cd "$(dirname "$0")/.."
nats_server=$(scripts/nats-server-bin.sh)
mkdir -p data/cluster

start_node() {
  local n=$1
  setsid "$nats_server" -c "cluster/node-$n.conf" -l "data/cluster/node-$n.log" -P "data/cluster/node-$n.pid" &
  echo $! >"data/cluster/node-$n.launched"
}

if [ "${1:-}" = "--node" ]; then
  # Restart one node of a running cluster (after killing it), in the background.
  start_node "${2:?which node: 1, 2 or 3}"
  exit 0
fi

pids=()
for n in 1 2 3; do
  start_node "$n"
  pids+=("$(cat "data/cluster/node-$n.launched")")
done
stop_cluster() {
  for n in 1 2 3; do
    [ -f "data/cluster/node-$n.pid" ] && kill "$(cat "data/cluster/node-$n.pid")" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop_cluster EXIT
trap 'exit 0' INT TERM

# Ready when every node reports healthy JetStream (its meta group has a leader).
for _ in $(seq 1 100); do
  healthy=0
  for n in 1 2 3; do
    curl -fs "http://127.0.0.1:823$n/healthz" >/dev/null 2>&1 && healthy=$((healthy + 1))
  done
  [ "$healthy" -eq 3 ] && break
  sleep 0.2
done

cat <<EOF
3-node JetStream cluster up (Ctrl-C stops it):
  clients    nats://127.0.0.1:4231  nats://127.0.0.1:4232  nats://127.0.0.1:4233
  monitoring http://127.0.0.1:8231  http://127.0.0.1:8232  http://127.0.0.1:8233
Users and permissions as for make run (nats-auth.conf); start instances as the service's user
(each in its own terminal):
  NATS_URL=nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233 KV_REPLICAS=3 \\
  NATS_USER=lfx-meeting-service NATS_PASSWORD=local-service-password \\
  NATS_INBOX_PREFIX=_INBOX_lfx-meeting-service AUTH_MODE=off npm start
EOF
wait "${pids[@]}" 2>/dev/null || true
