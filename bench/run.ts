// `make bench` (issues 7, 12 and 14): starts its own nats-server, the service (`node dist/main.js`)
// and the bare responder as separate processes, and measures in one run:
//   instances 2 and then 20 service instances: the server's CPU at rest and per request
//             (instances.ts), first, while the buckets hold little;
//   scale     registrants.list (a meeting of 20) and meetings.list (a project of 20) with 1,000,
//             BENCH_SCALE / 10 and BENCH_SCALE other entities in the buckets, at 1 and 16 in
//             flight (medians of rounds), and the bare responder doing the KV work of the
//             registrants page; at each step a fresh instance replaces the running one and is
//             timed until it answers $SRV.PING, with its memory (startup.ts);
//   big meeting   meetings.get and pages of a meeting with 30,000 registrants and 10,000 RSVPs
//             against one with 50 (big-meeting.ts);
//   bare vs service   meetings.get and meetings.create against the bare responder, alternating
//             rounds of [bare, service] at 1 and at 64 in flight, medians reported;
//   service   the other endpoints at 1 and at 64 in flight, and meetings.get of a meeting with
//             registrants;
//   auth      meetings.get with AUTH_MODE=jwt against AUTH_MODE=off, on a server of its own
//             (auth.ts);
//   memory    the service's peak RSS over the whole run.
// Everything after the scale section runs with its largest fill in the buckets. Prints a table
// with every target's PASS/FAIL and writes JSON and an SVG chart under bench/results/. The
// environment knobs are in settings.ts.
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { checkpointKey } from "../src/outbox/feed.js";
import { entityFilter } from "../src/outbox/sources.js";
import { BUCKET_NAMES, type BucketId } from "../src/store/kv/buckets.js";
import type { StoredMeeting } from "../src/store/resources/meetings.js";
import { registrantKey, type StoredRegistrant } from "../src/store/resources/registrants.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { measureAuth } from "./auth.js";
import { BARE_BUCKETS, BARE_CREATE, BARE_GET, BARE_LIST_REGISTRANTS } from "./bare-subjects.js";
import { measureBigMeeting } from "./big-meeting.js";
import {
  call as callService,
  DAILY,
  FIRST_JOIN,
  meetingRequest,
  occurrence,
  startedOnTime,
} from "./fixtures.js";
import { fillMeetings, fillRegistrants, keysInBuckets } from "./fill.js";
import { measureInstances } from "./instances.js";
import { runDurability } from "./durability.js";
import { runLoad, type LoadResult } from "./load.js";
import {
  itemsCheck,
  measure,
  medianOf,
  progress,
  summary,
  warmUp,
  type Workload,
} from "./measure.js";
import {
  answersPing,
  memoryOf,
  spawnNode,
  waitIdle,
  waitReady,
  type ChildHandle,
} from "./processes.js";
import { evaluate, printReport, renderSvg, type Report, type Row } from "./report.js";
import {
  LOG_LEVEL,
  ONLY,
  RESULTS,
  ROOT,
  ROUNDS,
  RUN_MS,
  SCALE_LARGE,
  SCALE_SMALL,
  SCALE_STEPS,
  SERVICE_MAIN,
  SERVICE_NAME,
  START_TIMEOUT_MS,
  WARMUP_MS,
} from "./settings.js";
import { startFreshInstance, type ServiceSlot } from "./startup.js";

const IN_FLIGHT = [1, 64] as const;
const LIST_IN_FLIGHT = [1, 16] as const;

async function main(): Promise<void> {
  await mkdir(RESULTS, { recursive: true });
  if (ONLY === "durability") {
    await runDurability({ runMs: RUN_MS, root: ROOT, results: RESULTS });
    return;
  }
  if (ONLY === "auth") return authAlone();
  const scratch = await mkdtemp(join(tmpdir(), "lfx-bench-"));
  progress(`starting nats-server, the service (LOG_LEVEL=${LOG_LEVEL}) and the bare responder`);
  const server = await startNatsServer();
  // The benchmark measures the service's own work; access checks and lookups are the platform's,
  // and invitation email is a feed of its own, off the request path.
  const env = {
    NATS_URL: server.url,
    AUTH_MODE: "off",
    PLATFORM_LOOKUPS: "off",
    INVITATIONS: "off",
  };
  const spawnService = (name: string, extra: Record<string, string> = {}): ChildHandle =>
    spawnNode(SERVICE_MAIN, { ...env, LOG_LEVEL, ...extra }, join(scratch, `${name}.log`));
  const slot: ServiceSlot = {
    current: spawnService("service"),
    spawn: (name) => spawnService(name),
  };
  const nc = await connect({ servers: server.url, name: "bench-driver", noAsyncTraces: true });
  let bare: ReturnType<typeof spawnNode> | undefined;
  try {
    await waitReady(slot.current, "the service", () => answersPing(nc, SERVICE_NAME));
    bare = spawnNode(
      fileURLToPath(new URL("./bare-responder.js", import.meta.url)),
      env,
      join(scratch, "bare.log"),
    );
    const bareHandle = bare;
    await waitReady(bareHandle, "the bare responder", async () => {
      await nc.request(BARE_GET, JSON.stringify({ uid: "none" }), { timeout: 500 });
      return true;
    });

    const report = await runAll(nc, slot, server.pid);
    report.machine.nats_server = nc.info?.version ?? "?";
    report.memory = memoryOf(slot.current.pid);
    report.auth = await measureAuth(spawnService);
    report.finished_at = new Date().toISOString();
    report.machine.load_average.push(loadavg()[0] ?? NaN);
    const targets = evaluate(report);
    report.targets = targets;
    printReport(report);
    const json = JSON.stringify(report, null, 2);
    const stamp = report.finished_at.replace(/[:.]/g, "-");
    await writeFile(join(RESULTS, `bench-${stamp}.json`), json);
    await writeFile(join(RESULTS, "latest.json"), json);
    await writeFile(join(RESULTS, "latest.svg"), renderSvg(report));
    progress(
      `wrote bench/results/latest.json, bench/results/bench-${stamp}.json, bench/results/latest.svg`,
    );
  } catch (err) {
    // Said before the clean-up, which may itself fail.
    progress(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    progress(`service logs: ${scratch} (kept)`);
    throw err;
  } finally {
    await nc.close();
    await Promise.all([slot.current.stop(), bare?.stop()]);
    await server.stop();
  }
  await rm(scratch, { recursive: true, force: true });
  // Durability (issue 20): sync_interval default vs always, on servers of its own.
  await runDurability({ runMs: RUN_MS, root: ROOT, results: RESULTS });
}

/** BENCH_ONLY=auth: the auth section on its own, its rows printed as they are. */
async function authAlone(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), "lfx-bench-"));
  const rows = await measureAuth((name, extra) =>
    spawnNode(
      SERVICE_MAIN,
      { PLATFORM_LOOKUPS: "off", INVITATIONS: "off", LOG_LEVEL, ...extra },
      join(scratch, `${name}.log`),
    ),
  );
  for (const { in_flight, off, jwt } of rows) {
    progress(
      `meetings.get at ${in_flight} in flight: off ${Math.round(off.rps)} req/s p50 ${off.p50_ms.toFixed(2)} ms,` +
        ` jwt ${Math.round(jwt.rps)} req/s p50 ${jwt.p50_ms.toFixed(2)} ms` +
        ` (jwt/off p50 ${(jwt.p50_ms / off.p50_ms).toFixed(3)}x, off/jwt req/s ${(off.rps / jwt.rps).toFixed(3)}x)`,
    );
  }
  await rm(scratch, { recursive: true, force: true });
}

async function runAll(nc: NatsConnection, slot: ServiceSlot, serverPid: number): Promise<Report> {
  const report: Report = {
    started_at: new Date().toISOString(),
    finished_at: "",
    machine: {
      cpu: cpus()[0]?.model ?? "?",
      cores: cpus().length,
      memory_gib: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      node: process.version,
      nats_server: "",
      load_average: [loadavg()[0] ?? NaN],
    },
    settings: {
      run_seconds: RUN_MS / 1000,
      rounds: ROUNDS,
      log_level: LOG_LEVEL,
      scale_small: SCALE_SMALL,
      scale_large: SCALE_LARGE,
      scale_steps: SCALE_STEPS,
    },
    rows: [],
    scale: [],
    memory: { peak_rss_mib: NaN, rss_mib: NaN },
    startup: [],
    instances: [],
    auth: [],
    targets: [],
  };
  const rss = () => {
    const { rss_mib, peak_rss_mib } = memoryOf(slot.current.pid);
    return ` [service RSS ${rss_mib.toFixed(0)} MiB, peak ${peak_rss_mib.toFixed(0)}]`;
  };
  const call = <T>(subject: string, body: unknown) => callService<T>(nc, subject, body);
  const kvm = new Kvm(jetstream(nc, { timeout: 10_000 }));
  const filler = { nc, jsm: await jetstreamManager(nc, { timeout: 10_000 }) };
  const meetingsKv = await kvm.open(BUCKET_NAMES.meetings);
  const registrantsKv = await kvm.open(BUCKET_NAMES.registrants);

  report.instances = await measureInstances(nc, { serverPid, spawn: slot.spawn });

  // --- scale: lists with 1,000 and 100,000 others in the bucket -----------------------------
  progress("scale: creating a project of 20 meetings and a meeting of 20 registrants");
  const project = randomUUID();
  const projectMeetings: string[] = [];
  for (let n = 0; n < 20; n++) {
    projectMeetings.push(
      (await call<{ uid: string }>("lfx.meetings.create", meetingRequest(project))).uid,
    );
  }
  const listedMeeting = (
    await call<{ uid: string }>("lfx.meetings.create", meetingRequest(randomUUID()))
  ).uid;
  const listedRegistrants: string[] = [];
  for (let n = 0; n < 20; n++) {
    const registrant = await call<{ uid: string }>("lfx.registrants.create", {
      meeting_uid: listedMeeting,
      email: `listed.${n}@example.org`,
      first_name: "Ada",
      last_name: "Lovelace",
    });
    listedRegistrants.push(registrant.uid);
  }
  const meetingTemplate = (await meetingsKv.get(projectMeetings[0] ?? ""))?.json<StoredMeeting>();
  const registrantTemplate = (
    await registrantsKv.get(registrantKey(listedRegistrants[0] ?? ""))
  )?.json<StoredRegistrant>();
  if (meetingTemplate === undefined || registrantTemplate === undefined) {
    throw new Error("templates not found");
  }
  const lists: Array<{ name: string; workload: Workload }> = [
    {
      name: "registrants.list",
      workload: {
        subject: "lfx.registrants.list",
        body: () => JSON.stringify({ meeting_uid: listedMeeting }),
        check: itemsCheck(20),
      },
    },
    {
      name: "meetings.list",
      workload: {
        subject: "lfx.meetings.list",
        body: () => JSON.stringify({ project_uid: project }),
        check: itemsCheck(20),
      },
    },
    {
      // What the server alone gives a page of registrants.list: its stream lookup and 20 gets.
      name: "registrants.list (bare)",
      workload: {
        subject: BARE_LIST_REGISTRANTS,
        body: () => JSON.stringify({ keys: listedRegistrants.map(registrantKey) }),
        check: itemsCheck(20),
      },
    },
  ];
  // Others so far: the listed meeting and the instances section's in the meetings bucket, none in
  // the registrants bucket.
  let otherMeetings = 2;
  let otherRegistrants = 0;
  const allBuckets = Object.values(BUCKET_NAMES);
  for (const others of SCALE_STEPS) {
    await fillMeetings(filler, BUCKET_NAMES.meetings, meetingTemplate, others - otherMeetings);
    await fillRegistrants(
      filler,
      BUCKET_NAMES.registrants,
      registrantTemplate,
      others - otherRegistrants,
    );
    otherMeetings = others;
    otherRegistrants = others;
    await waitIdle([serverPid, slot.current.pid]);
    const keys = await keysInBuckets(filler.jsm, allBuckets);
    const startup = await startFreshInstance(nc, slot, { others, keys });
    report.startup.push(startup);
    // The first lists wait until the service has caught up with the fill (whatever it keeps in
    // step with the buckets), then until the server has written it away: lists are measured
    // with the others at rest.
    for (const { workload } of lists) await waitCaughtUp(nc, workload);
    await waitFeedCaughtUp(nc, filler.jsm, ["meetings", "registrants"]);
    const settledMs = await waitIdle([serverPid, slot.current.pid]);
    progress(`  server and service at rest ${(settledMs / 1000).toFixed(1)} s after the fill`);
    for (const { name, workload } of lists) {
      // A fresh instance: its code is not optimised yet when the first list runs.
      await warmUp(nc, workload, 16, 3 * WARMUP_MS);
      for (const inFlight of LIST_IN_FLIGHT) {
        await warmUp(nc, workload, inFlight);
        // Medians of rounds, as for get and create: a p99 at 1 in flight is a handful of
        // requests, which a burst of other work on a shared machine can move on its own.
        const rounds: LoadResult[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          rounds.push(await measure(nc, workload, inFlight));
        }
        const result = medianOf(rounds);
        report.scale.push({ endpoint: name, others, in_flight: inFlight, ...result, rounds });
        progress(
          `  ${name} with ${others.toLocaleString("en-US")} others, ${inFlight} in flight: ${summary(result)}${rss()}`,
        );
      }
    }
    // Only an instance started at this step: one left running from before followed the fill.
    if (!Number.isNaN(startup.ready_ms)) {
      startup.peak_rss_under_load_mib = memoryOf(slot.current.pid).peak_rss_mib;
    }
  }

  report.big_meeting = await measureBigMeeting(nc, async () => {
    // The feed sends a change for each of the big meeting's registrations and answers.
    await waitFeedCaughtUp(nc, filler.jsm, ["meetings", "registrants", "rsvps"]);
    await waitIdle([serverPid, slot.current.pid]);
  });

  // --- bare vs service: meetings.get and meetings.create, alternating rounds -----------------
  progress("bare vs service: creating 64 meetings to read");
  const getPool: string[] = [];
  for (let n = 0; n < 64; n++) {
    getPool.push(
      (await call<{ uid: string }>("lfx.meetings.create", meetingRequest(randomUUID()))).uid,
    );
  }
  // The bare responder reads the same meetings from its own bucket.
  const bareMeetingsKv = await kvm.open(BARE_BUCKETS.meetings);
  for (const uid of getPool) {
    const stored = await meetingsKv.get(uid);
    if (stored === null) throw new Error(`meeting ${uid} not found`);
    await bareMeetingsKv.put(uid, stored.value);
  }
  const projects = Array.from({ length: 100 }, () => randomUUID());
  const getBody = (i: number) => JSON.stringify({ uid: getPool[i % getPool.length] });
  const createBody = (i: number) =>
    JSON.stringify(meetingRequest(projects[i % projects.length] ?? ""));
  const pairs = [
    {
      endpoint: "meetings.get",
      bare: { subject: BARE_GET, body: getBody },
      service: { subject: "lfx.meetings.get", body: getBody },
    },
    {
      endpoint: "meetings.create",
      bare: { subject: BARE_CREATE, body: createBody },
      service: { subject: "lfx.meetings.create", body: createBody },
    },
  ];
  for (const pair of pairs) {
    for (const inFlight of IN_FLIGHT) {
      await warmUp(nc, pair.bare, inFlight);
      await warmUp(nc, pair.service, inFlight);
      const bareRuns: LoadResult[] = [];
      const serviceRuns: LoadResult[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        bareRuns.push(await measure(nc, pair.bare, inFlight));
        serviceRuns.push(await measure(nc, pair.service, inFlight));
        const b = bareRuns[bareRuns.length - 1] as LoadResult;
        const s = serviceRuns[serviceRuns.length - 1] as LoadResult;
        progress(
          `  ${pair.endpoint} ${inFlight} in flight, round ${round}: bare ${summary(b)} | service ${summary(s)}${rss()}`,
        );
      }
      const row: Row = {
        endpoint: pair.endpoint,
        in_flight: inFlight,
        service: medianOf(serviceRuns),
        bare: medianOf(bareRuns),
        rounds: { service: serviceRuns, bare: bareRuns },
      };
      report.rows.push(row);
    }
  }

  // --- the other endpoints --------------------------------------------------------------------
  progress("service: creating meetings, registrants and past meetings to work on");
  const registrantMeetings: string[] = [];
  for (let n = 0; n < 64; n++) {
    registrantMeetings.push(
      (await call<{ uid: string }>("lfx.meetings.create", meetingRequest(randomUUID()))).uid,
    );
  }
  // RSVPs: 8 daily meetings with 32 registrants each; request i answers for registrant i % 256
  // on day i / 256, so every request is a new RSVP.
  const rsvpRegistrants: Array<{ meeting_uid: string; uid: string }> = [];
  for (let m = 0; m < 8; m++) {
    const meetingUid = (
      await call<{ uid: string }>("lfx.meetings.create", meetingRequest(randomUUID(), DAILY))
    ).uid;
    for (let r = 0; r < 32; r++) {
      const registrant = await call<{ uid: string }>("lfx.registrants.create", {
        meeting_uid: meetingUid,
        email: `rsvp.${m}.${r}@example.org`,
      });
      rsvpRegistrants.push({ meeting_uid: meetingUid, uid: registrant.uid });
    }
  }
  // Starts: 8 daily meetings without registrants; request i starts day i / 8 of meeting i % 8.
  const startMeetings: string[] = [];
  for (let m = 0; m < 8; m++) {
    startMeetings.push(
      (await call<{ uid: string }>("lfx.meetings.create", meetingRequest(randomUUID(), DAILY))).uid,
    );
  }
  // Joins: 8 past meetings; every request is a new participant (a new email).
  const pastMeetings: string[] = [];
  for (const meetingUid of startMeetings) {
    const started = await call<{ uid: string }>("lfx.past-meetings.start", {
      meeting_uid: meetingUid,
      ...startedOnTime(occurrence(0)),
    });
    pastMeetings.push(started.uid);
  }
  const workloads: Array<{ endpoint: string; workload: Workload }> = [
    {
      // A meeting with registrants: its occurrences' counts are read from its registrant and RSVP
      // index keys in the stream (docs/ARCHITECTURE.md "Lists"), work the bare responder does not do.
      endpoint: "meetings.get (20 registrants)",
      workload: {
        subject: "lfx.meetings.get",
        body: () => JSON.stringify({ uid: listedMeeting }),
      },
    },
    {
      endpoint: "registrants.create",
      workload: {
        subject: "lfx.registrants.create",
        body: (i) =>
          JSON.stringify({
            meeting_uid: registrantMeetings[i % registrantMeetings.length],
            email: `registrant.${i}@example.org`,
            first_name: "Ada",
            last_name: "Lovelace",
          }),
      },
    },
    {
      endpoint: "registrants.list",
      workload: lists[0]?.workload as Workload,
    },
    {
      endpoint: "rsvps.create",
      workload: {
        subject: "lfx.rsvps.create",
        body: (i) => {
          const registrant = rsvpRegistrants[i % rsvpRegistrants.length];
          return JSON.stringify({
            meeting_uid: registrant?.meeting_uid,
            registrant_uid: registrant?.uid,
            response: "accepted",
            scope: "single",
            occurrence_id: occurrence(1 + Math.floor(i / rsvpRegistrants.length)).occurrence_id,
          });
        },
      },
    },
    {
      endpoint: "past-meetings.start",
      workload: {
        subject: "lfx.past-meetings.start",
        body: (i) =>
          JSON.stringify({
            meeting_uid: startMeetings[i % startMeetings.length],
            ...startedOnTime(occurrence(1 + Math.floor(i / startMeetings.length))),
          }),
      },
    },
    {
      endpoint: "participants.join",
      workload: {
        subject: "lfx.participants.join",
        body: (i) =>
          JSON.stringify({
            past_meeting_uid: pastMeetings[i % pastMeetings.length],
            email: `participant.${i}@example.org`,
            first_name: "Grace",
            joined_at: FIRST_JOIN,
          }),
      },
    },
  ];
  for (const { endpoint, workload } of workloads) {
    for (const inFlight of IN_FLIGHT) {
      await warmUp(nc, workload, inFlight);
      const result = await measure(nc, workload, inFlight);
      report.rows.push({ endpoint, in_flight: inFlight, service: result });
      progress(`  ${endpoint} ${inFlight} in flight: ${summary(result)}${rss()}`);
    }
  }
  return report;
}

async function waitCaughtUp(nc: NatsConnection, workload: Workload): Promise<void> {
  // A loaded machine may take minutes to take in a fill of millions of keys.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const result = await runLoad({ nc, ...workload, inFlight: 1, durationMs: 1 });
    if (result.errors === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${workload.subject} still failing: ${result.firstError ?? "?"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Waits until the platform-index feed (src/outbox/platform-feeds.ts) has sent what a fill wrote:
 * the fill writes straight into the streams, so the feed takes every filled entity for a change
 * to announce, and while it sends them the server is busy and lists measured meanwhile are not
 * the lists' figures. Caught up: no entity message after its checkpoint, counted by a consumer
 * with the feed's own filter (src/outbox/sources.ts). The fga-sync feed has no stream to take its
 * messages here and waits without work. A feed still behind at the start timeout is reported.
 */
async function waitFeedCaughtUp(
  nc: NatsConnection,
  jsm: JetStreamManager,
  ids: readonly BucketId[],
): Promise<void> {
  const outbox = await new Kvm(jetstream(nc, { timeout: 10_000 })).open(BUCKET_NAMES.outbox);
  const started = Date.now();
  const pendingAfterCheckpoints = async (): Promise<number> => {
    let pending = 0;
    for (const id of ids) {
      const bucket = BUCKET_NAMES[id];
      const filter = entityFilter({ id, name: bucket });
      const checkpoint = await outbox.get(checkpointKey("platform-index", bucket));
      const sequence = checkpoint?.json<{ sequence: number }>().sequence ?? 0;
      const consumer = await jsm.consumers.add(`KV_${bucket}`, {
        filter_subject: filter,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: sequence + 1,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        inactive_threshold: nanos(5000),
      });
      pending += consumer.num_pending;
      await jsm.consumers.delete(`KV_${bucket}`, consumer.name);
    }
    return pending;
  };
  for (;;) {
    const pending = await pendingAfterCheckpoints();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (pending === 0) {
      progress(`  the platform-index feed had sent what was written (${seconds} s)`);
      return;
    }
    if (Date.now() - started > START_TIMEOUT_MS) {
      progress(
        `  the platform-index feed is ${pending} changes behind after ${seconds} s; measuring anyway`,
      );
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
