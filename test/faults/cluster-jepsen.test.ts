// The faults of Jepsen's NATS analysis (docs/MEASUREMENTS.md, "Durability: sync_interval") on a
// 3-node cluster with R3 buckets, each under a load of meeting creates, updates and registrations
// through two service instances (workload.ts), every acknowledged write read back afterwards:
// - the stream leader of the registrants bucket paused (SIGSTOP), then resumed;
// - one node cut off from the other two (route-proxy.ts), a client and an instance on each side;
// - 50-200 ms on every route between nodes.
// Every node killed at once: cluster-power-loss.test.ts.
// `make test` runs a short version; FAULTS_LONG=1 (`make test-faults-long`) the durations of the
// issue (a 10 s pause, a 20 s cut, 30 s of latency) with more writers.
// Nodes flush before acknowledging (`sync_interval: always`, as cluster/*.conf ship).
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { BUCKET_NAMES } from "../../src/store/kv/buckets.js";
import { startCluster, type Cluster, type ClusterNode } from "../support/cluster.js";
import { isSuccess, tally, type Load, type Outcome } from "../support/load.js";
import {
  ensureBuilt,
  killAllServiceProcesses,
  startServiceProcess,
  type ServiceProcess,
} from "../support/service-process.js";
import { consistentAfterRepair, failureCauses, report } from "../support/fault-checks.js";
import { Acknowledged, nothingLost, readBack, readBackFigures, startWorkload } from "./workload.js";

const LONG = process.env["FAULTS_LONG"] === "1";
const PAUSE_MS = LONG ? 10_000 : 4000;
const CUT_MS = LONG ? 20_000 : 8000;
const LATENCY_MS = LONG ? 30_000 : 5000;
const WORKERS = LONG ? 16 : 8;
const KV_TIMEOUT_MS = 2000;
const REGISTRANTS = `KV_${BUCKET_NAMES.registrants}`;
const ALL_STREAMS = Object.values(BUCKET_NAMES).map((name) => `KV_${name}`);

let cluster: Cluster;
/** Node 1 and node 3 carry the clients and instances; node 2 carries none (it is paused). */
let majority: ClusterNode;
let quiet: ClusterNode;
let minority: ClusterNode;
let services: ServiceProcess[] = [];
let majorityClient: NatsConnection;
let minorityClient: NatsConnection;
const project = randomUUID();
/** Writes acknowledged in this file, read back at its end. */
const flushed = new Acknowledged();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  ensureBuilt();
  cluster = await startCluster(3, "jepsen", { syncInterval: "always", routeProxies: true });
  [majority, quiet, minority] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const env = (node: ClusterNode) => ({
    NATS_URL: node.server.url,
    KV_REPLICAS: "3",
    KV_TIMEOUT_MS: String(KV_TIMEOUT_MS),
  });
  // As in cluster.test.ts: once the cluster is ready, one after the other.
  await cluster.ready();
  services = [await startServiceProcess(env(majority), 150_000)];
  services.push(await startServiceProcess(env(minority), 150_000));
  // Clients stay on their node (no reconnecting to nodes learnt from the cluster), so that each
  // side of a cut keeps its own.
  const clientOn = (node: ClusterNode) =>
    connect({
      servers: node.server.url,
      ignoreClusterUpdates: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 50,
    });
  majorityClient = await clientOn(majority);
  minorityClient = await clientOn(minority);
}, 360_000);

afterAll(async () => {
  killAllServiceProcesses();
  await majorityClient?.close();
  await minorityClient?.close();
  await cluster?.stop();
});

/** Every reply a 200, or a 503 with a retry hint (CONTRACT: storage unavailable). */
function answeredAsTheContractAllows(outcomes: readonly Outcome[]): void {
  for (const o of outcomes) {
    expect(o.kind).toBe("reply");
    if (o.status !== 200) {
      expect([o.status, o.code]).toEqual([503, "unavailable"]);
      expect(o.retryAfterMs).toBeGreaterThan(0);
    }
  }
}

async function stopAll(...loads: Load[]): Promise<Outcome[]> {
  return (await Promise.all(loads.map((l) => l.stop()))).flat();
}

it("the registrants' stream leader paused, then resumed: every request answered, writes resume", async () => {
  await cluster.placeLeaders([REGISTRANTS], (leader) => leader.name === quiet.name);
  const loads = [
    startWorkload(majorityClient, project, "pause-a", flushed, WORKERS / 2),
    startWorkload(minorityClient, project, "pause-b", flushed, WORKERS / 2),
  ];
  await loads[0]!.successes(30, 60_000);
  const pausedAt = Date.now();
  cluster.pause(quiet);
  await sleep(PAUSE_MS);
  cluster.resume(quiet);
  const resumedAt = Date.now();
  await loads[0]!.successes(30, 60_000);
  await loads[1]!.successes(30, 60_000);
  const outcomes = await stopAll(...loads);
  const firstAfter = outcomes.filter((o) => isSuccess(o) && o.sentAt > pausedAt)[0];
  report("cluster: registrants' stream leader paused", {
    pause_ms: PAUSE_MS,
    outcomes: tally(outcomes),
    while_paused: tally(outcomes.filter((o) => o.doneAt >= pausedAt && o.doneAt < resumedAt)),
    slowest_reply_ms: Math.max(...outcomes.map((o) => o.doneAt - o.sentAt)),
    first_success_after_pause_ms: (firstAfter?.doneAt ?? Number.NaN) - pausedAt,
    leader_after: (await cluster.leaderOf(REGISTRANTS)).name === quiet.name ? "same" : "moved",
    causes: services.map((s) => failureCauses(s.logLines(), pausedAt)),
  });
  answeredAsTheContractAllows(outcomes);
  await cluster.untilCurrent(ALL_STREAMS);
}, 180_000);

it("one node cut off from the other two: both sides answer, 503 at most, then heal", async () => {
  // The minority side holds some leaders, so that the cut makes them move.
  await cluster.placeLeaders([REGISTRANTS], (leader) => leader.name === minority.name);
  const majorityLoad = startWorkload(majorityClient, project, "cut-a", flushed, WORKERS / 2);
  const minorityLoad = startWorkload(minorityClient, project, "cut-b", flushed, WORKERS / 2);
  await majorityLoad.successes(30, 60_000);
  const cutAt = Date.now();
  await cluster.isolate(minority);
  await sleep(CUT_MS);
  const healedAt = Date.now();
  cluster.heal();
  await cluster.untilCurrent(ALL_STREAMS, 120_000);
  await majorityLoad.successes(30, 60_000);
  await minorityLoad.successes(30, 60_000);
  const [majorityOutcomes, minorityOutcomes] = [
    await majorityLoad.stop(),
    await minorityLoad.stop(),
  ];
  const during = (outcomes: readonly Outcome[]) =>
    tally(outcomes.filter((o) => o.sentAt >= cutAt && o.doneAt < healedAt));
  report("cluster: one node cut off", {
    cut_ms: CUT_MS,
    majority: tally(majorityOutcomes),
    majority_during_cut: during(majorityOutcomes),
    minority: tally(minorityOutcomes),
    minority_during_cut: during(minorityOutcomes),
    slowest_reply_ms: Math.max(
      ...[...majorityOutcomes, ...minorityOutcomes]
        .filter((o) => o.kind === "reply")
        .map((o) => o.doneAt - o.sentAt),
    ),
    causes: services.map((s) => failureCauses(s.logLines(), cutAt)),
  });
  // Replies are 200 or 503; a request the server routed to the other side's instance before it
  // noticed the cut (queue groups span the cluster) is held with the route and may time out.
  answeredAsTheContractAllows(majorityOutcomes.filter((o) => o.kind !== "timeout"));
  answeredAsTheContractAllows(minorityOutcomes.filter((o) => o.kind !== "timeout"));
  // Whether the minority's instance answered while cut off (503s) is reported, not asserted: in
  // a loaded full run its replies were all held until the heal once (minority_during_cut).
  expect(minorityOutcomes.some((o) => o.kind === "reply")).toBe(true);
}, 240_000);

it("50-200 ms between nodes: requests answered within their deadlines", async () => {
  cluster.delayRoutes({ minMs: 50, maxMs: 200 });
  const loads = [
    startWorkload(majorityClient, project, "slow-a", flushed, WORKERS / 2),
    startWorkload(minorityClient, project, "slow-b", flushed, WORKERS / 2),
  ];
  const startedAt = Date.now();
  await sleep(LATENCY_MS);
  const outcomes = await stopAll(...loads);
  cluster.delayRoutes(undefined);
  const succeeded = outcomes.filter(isSuccess).map((o) => o.doneAt - o.sentAt);
  succeeded.sort((a, b) => a - b);
  report("cluster: 50-200 ms between nodes", {
    seconds: LATENCY_MS / 1000,
    outcomes: tally(outcomes),
    p50_ms: succeeded[Math.floor(succeeded.length / 2)],
    slowest_ms: Math.max(...outcomes.map((o) => o.doneAt - o.sentAt)),
    causes: services.map((s) => failureCauses(s.logLines(), startedAt)),
  });
  answeredAsTheContractAllows(outcomes);
  expect(succeeded.length).toBeGreaterThan(0);
}, 180_000);

it("lost no acknowledged write: each read back at its revision or later, listed once, counted", async () => {
  const check = await consistentAfterRepair(cluster);
  const read = await readBack(majorityClient, project, flushed);
  report("cluster: pause, cut, latency: acknowledged writes", {
    ...readBackFigures(read),
    consistency_findings: check.findings.length,
    consistency_exit_after_repair: check.code,
  });
  expect(read).toEqual(nothingLost(flushed.size));
  expect(check.code).toBe(0);
}, 300_000);
