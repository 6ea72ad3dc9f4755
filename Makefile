# The two commands a newcomer needs: `make run` and `make test` (see README.md).
.PHONY: run test deps build typecheck lint format-check unit bench clean cluster test-faults test-faults-long

deps:
	@scripts/ensure-deps.sh

build: deps
	npm run build

run: build
	scripts/run-local.sh

typecheck: deps
	npm run typecheck

lint: deps
	npm run lint

format-check: deps
	npm run format:check

# The whole-cluster kill (test/faults/cluster-power-loss.test.ts) runs in test-faults-long only: it
# takes 100-180 s on a 2-core machine, most of it the lazy case's recovery (docs/RELIABILITY.md).
# The two 3-node cluster files run last, one after the other: six nats-servers beside the other
# suites on 2 cores slow everything down. (The service that once never started there was a test
# cluster that had left a node out of its meta group: test/support/cluster.ts ready().)
test: build typecheck lint format-check
	NATS_SERVER_BIN="$$(scripts/nats-server-bin.sh)" npm test -- --testPathIgnorePatterns 'test/faults/cluster'
	NATS_SERVER_BIN="$$(scripts/nats-server-bin.sh)" npm test -- --runInBand test/faults/cluster.test.ts test/faults/cluster-jepsen.test.ts

# The fault tests alone (test/faults/: server and instance kills, a 3-node cluster, unknown write
# outcomes); `make test` runs them too. Figures go to $FAULTS_REPORT when set (docs/RELIABILITY.md).
test-faults: build
	NATS_SERVER_BIN="$$(scripts/nats-server-bin.sh)" npm test -- test/faults

# The faults of Jepsen's NATS analysis (test/faults/cluster-jepsen.test.ts) at the durations of issue
# 20: a 10 s SIGSTOP of a stream leader, a node cut off for 20 s, 30 s of 50-200 ms between nodes,
# and every node killed at once (flushed, then lazy). `make test` runs the first three shorter.
# One file after the other (--runInBand): two 3-node clusters at once starved each other's start-up
# on 2 cores. ~5 minutes.
test-faults-long: build
	FAULTS_LONG=1 NATS_SERVER_BIN="$$(scripts/nats-server-bin.sh)" npm test -- --runInBand test/faults/cluster-jepsen.test.ts test/faults/cluster-power-loss.test.ts

# A local 3-node JetStream cluster (cluster/*.conf) in the foreground, to run instances against.
cluster: deps
	scripts/run-cluster.sh

# The benchmark (bench/run.ts, issues 7, 12, 14): its own nats-server, the service and a bare
# responder; prints every figure and each target's PASS/FAIL, and writes JSON and an SVG chart to
# bench/results/. Tens of minutes (README "Performance"); not in `make test`.
bench: build
	NATS_SERVER_BIN="$$(scripts/nats-server-bin.sh)" npm run bench

clean:
	rm -rf dist coverage
