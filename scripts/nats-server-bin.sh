#!/usr/bin/env bash
# Prints the path of the nats-server this project runs and tests with: 2.10 (Debian trixie's
# package), fetched and unpacked on first use into a cache folder; nothing system-wide changes.
# Why not Debian bookworm's 2.9.10: on a 3-node cluster it let concurrent revision-checked updates
# of one key both succeed (registrant_count lost ~5% of 1,000 concurrent registrations, with no
# fault; test/faults/cluster.test.ts), and it knows neither `sync_interval` nor subject-indexed
# wildcard filters (docs/ARCHITECTURE.md "Server version").
#   env: NATS_SERVER_BIN   use this binary instead (must be executable)
#        NATS_SERVER_CACHE where to keep the download (default ~/.cache/lfx-meeting-service)
set -euo pipefail
if [ -n "${NATS_SERVER_BIN:-}" ]; then
  [ -x "$NATS_SERVER_BIN" ] || { echo "NATS_SERVER_BIN=$NATS_SERVER_BIN is not executable" >&2; exit 1; }
  echo "$NATS_SERVER_BIN"
  exit 0
fi
suite=trixie
cache=${NATS_SERVER_CACHE:-$HOME/.cache/lfx-meeting-service}/nats-server-$suite
bin="$cache/root/usr/sbin/nats-server"
if [ ! -x "$bin" ]; then
  echo "fetching nats-server from Debian $suite into $cache" >&2
  rm -rf "$cache"
  mkdir -p "$cache/sources" "$cache/lists/partial" "$cache/apt/archives/partial" "$cache/root"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\n' "$suite" \
    >"$cache/sources/$suite.sources"
  opts=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$cache/sources"
    -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache/apt" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update >"$cache/update.log" 2>&1 || { cat "$cache/update.log" >&2; exit 1; }
  (cd "$cache" && apt-get "${opts[@]}" download nats-server >"$cache/download.log" 2>&1) ||
    { cat "$cache/download.log" >&2; exit 1; }
  dpkg -x "$cache"/nats-server_*.deb "$cache/root"
fi
[ -x "$bin" ] || { echo "no nats-server in Debian $suite's package" >&2; exit 1; }
echo "$bin"
