// `make bench` (issue 7): starts its own nats-server, the service (`node dist/main.js`) and the
// bare responder as separate processes, and measures in one run:
//   scale     registrants.list (a meeting of 20) and meetings.list (a project of 20) with 1,000
//             and with 100,000 other entities in the bucket, at 1 and 16 in flight (medians of
//             rounds), and the bare responder doing the KV work of the registrants page;
//   bare vs service   meetings.get and meetings.create against the bare responder, alternating
//             rounds of [bare, service] at 1 and at 64 in flight, medians reported;
//   service   the other endpoints at 1 and at 64 in flight, and meetings.get of a meeting with
//             registrants (whose counts come from the key indexes);
//   memory    the service's peak RSS over the whole run.
// The scale part runs first, on empty buckets; everything after it runs with the 100,000 others
// (and whatever the earlier parts created) in the buckets. Prints a table and writes JSON and an
// SVG chart under bench/results/. Environment: BENCH_SECONDS (per run, default 3),
// BENCH_ROUNDS (default 3), BENCH_SCALE (default 100000), BENCH_LOG_LEVEL (default info).
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BUCKET_NAMES } from "../src/store/buckets.js";
import type { StoredMeeting } from "../src/store/meetings.js";
import { registrantKey, type StoredRegistrant } from "../src/store/registrants.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { ok } from "../test/support/request.js";
import { BARE_BUCKETS, BARE_CREATE, BARE_GET, BARE_LIST_REGISTRANTS } from "./bare-subjects.js";
import { runDurability } from "./durability.js";
import { fillMeetings, fillRegistrants } from "./fill.js";
import { runLoad, type LoadResult } from "./load.js";
import {
  answersPing,
  memoryOf,
  spawnNode,
  waitIdle,
  waitReady,
  type ChildHandle,
} from "./processes.js";
import { evaluate, printReport, renderSvg, type Report, type Row } from "./report.js";

const SERVICE_NAME = "lfx-meeting-service";

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

const RUN_MS = numberFromEnv("BENCH_SECONDS", 3) * 1000;
const WARMUP_MS = Math.min(1000, RUN_MS / 3);
const ROUNDS = numberFromEnv("BENCH_ROUNDS", 3);
const SCALE_LARGE = numberFromEnv("BENCH_SCALE", 100_000);
const SCALE_SMALL = Math.min(1000, SCALE_LARGE);
const LOG_LEVEL = process.env["BENCH_LOG_LEVEL"] ?? "info";
const IN_FLIGHT = [1, 64] as const;
const LIST_IN_FLIGHT = [1, 16] as const;

/** The repository root: the nearest directory above this script with a package.json. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above the bench script");
    dir = parent;
  }
  return dir;
}

const ROOT = repositoryRoot();
const RESULTS = join(ROOT, "bench", "results");

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

/** Medians of each figure over rounds (requests and errors are summed). */
function medianOf(results: readonly LoadResult[]): LoadResult {
  const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
  return {
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
    rps: median(results.map((r) => r.rps)),
    p50_ms: median(results.map((r) => r.p50_ms)),
    p99_ms: median(results.map((r) => r.p99_ms)),
    max_ms: Math.max(...results.map((r) => r.max_ms)),
  };
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Workload {
  subject: string;
  body: (i: number) => string;
  check?: (msg: Msg) => string | undefined;
}

function measure(
  nc: NatsConnection,
  workload: Workload,
  inFlight: number,
  durationMs = RUN_MS,
): Promise<LoadResult> {
  return runLoad({ nc, ...workload, inFlight, durationMs });
}

async function warmUp(
  nc: NatsConnection,
  workload: Workload,
  inFlight: number,
  durationMs = WARMUP_MS,
): Promise<void> {
  const result = await measure(nc, workload, inFlight, durationMs);
  if (result.errors > 0) {
    throw new Error(`${workload.subject} fails: ${result.firstError ?? "?"} (${result.errors}x)`);
  }
}

function itemsCheck(expected: number): (msg: Msg) => string | undefined {
  return (msg) => {
    const { items } = msg.json<{ items: unknown[] }>();
    return items.length === expected
      ? undefined
      : `expected ${expected} items, got ${items.length}`;
  };
}

const FIRST_START = Date.parse("2030-01-15T15:00:00Z");
const DAY_MS = 86_400_000;

function meetingRequest(projectUid: string, extra: Record<string, unknown> = {}) {
  return {
    project_uid: projectUid,
    title: "Technical Steering Committee",
    description: "Weekly sync of the technical steering committee",
    start_time: new Date(FIRST_START).toISOString(),
    duration: 60,
    timezone: "UTC",
    organizers: ["alice", "bob"],
    ...extra,
  };
}

const DAILY = { recurrence: { type: 1, repeat_interval: 1 } };

/** Day `day` of a daily series starting at FIRST_START: its occurrence id and start. */
function occurrence(day: number): { occurrence_id: string; start_time: string } {
  const start = FIRST_START + day * DAY_MS;
  return { occurrence_id: String(start / 1000), start_time: new Date(start).toISOString() };
}

async function main(): Promise<void> {
  await mkdir(RESULTS, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), "lfx-bench-"));
  const serviceLog = join(scratch, "service.log");
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
  const service = spawnNode(join(ROOT, "dist", "main.js"), { ...env, LOG_LEVEL }, serviceLog);
  const nc = await connect({ servers: server.url, name: "bench-driver", noAsyncTraces: true });
  let bare: ReturnType<typeof spawnNode> | undefined;
  try {
    await waitReady(service, "the service", () => answersPing(nc, SERVICE_NAME));
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

    const { report, lists } = await runAll(nc, service.pid, server.pid);
    report.machine.nats_server = nc.info?.version ?? "?";
    report.memory = memoryOf(service.pid);
    report.restart = await restartOnFilledBuckets(nc, service, env, {
      logFile: join(scratch, "restart.log"),
      lists,
    });
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
    progress(`service log: ${serviceLog} (kept)`);
    throw err;
  } finally {
    await nc.close();
    await Promise.all([service.stop(), bare?.stop()]);
    await server.stop();
  }
  await rm(scratch, { recursive: true, force: true });
  // Durability (issue 20): sync_interval default vs always, on servers of its own.
  await runDurability({ runMs: RUN_MS, root: ROOT, results: RESULTS });
}

async function runAll(
  nc: NatsConnection,
  servicePid: number,
  serverPid: number,
): Promise<{ report: Report; lists: Workload[] }> {
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
    },
    settings: {
      run_seconds: RUN_MS / 1000,
      rounds: ROUNDS,
      log_level: LOG_LEVEL,
      scale_small: SCALE_SMALL,
      scale_large: SCALE_LARGE,
    },
    rows: [],
    scale: [],
    memory: { peak_rss_mib: NaN, rss_mib: NaN },
    targets: [],
  };
  const rss = () => {
    const { rss_mib, peak_rss_mib } = memoryOf(servicePid);
    return ` [service RSS ${rss_mib.toFixed(0)} MiB, peak ${peak_rss_mib.toFixed(0)}]`;
  };
  const call = <T>(subject: string, body: unknown) =>
    ok<T>(nc, subject, body, { timeoutMs: 10_000 });
  const kvm = new Kvm(jetstream(nc, { timeout: 10_000 }));
  const filler = { nc, jsm: await jetstreamManager(nc, { timeout: 10_000 }) };
  const meetingsKv = await kvm.open(BUCKET_NAMES.meetings);
  const registrantsKv = await kvm.open(BUCKET_NAMES.registrants);

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
  // Others so far: the listed meeting in the meetings bucket, none in the registrants bucket.
  let otherMeetings = 1;
  let otherRegistrants = 0;
  for (const others of [SCALE_SMALL, SCALE_LARGE]) {
    await fillMeetings(filler, BUCKET_NAMES.meetings, meetingTemplate, others - otherMeetings);
    await fillRegistrants(
      filler,
      BUCKET_NAMES.registrants,
      registrantTemplate,
      others - otherRegistrants,
    );
    otherMeetings = others;
    otherRegistrants = others;
    // The first lists wait until the service's key index has caught up with the fill, then
    // until the server has written it away: lists are measured with the others at rest.
    for (const { workload } of lists) await waitCaughtUp(nc, workload);
    const settledMs = await waitIdle([serverPid, servicePid]);
    progress(`  server and service at rest ${(settledMs / 1000).toFixed(1)} s after the fill`);
    for (const { name, workload } of lists) {
      // The service has just started: its code is not optimised yet when the first list runs.
      if (others === SCALE_SMALL) await warmUp(nc, workload, 16, 3 * WARMUP_MS);
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
  }

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
      ...pick(occurrence(0)),
    });
    pastMeetings.push(started.uid);
  }
  const workloads: Array<{ endpoint: string; workload: Workload }> = [
    {
      // A meeting with registrants: its occurrences' counts come from the key indexes, which are
      // brought up to date first (two stream lookups), work the bare responder does not do.
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
            ...pick(occurrence(1 + Math.floor(i / startMeetings.length))),
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
            joined_at: new Date(FIRST_START + 60_000).toISOString(),
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
  report.finished_at = new Date().toISOString();
  const serviceLists = lists.filter((list) => list.workload.subject.startsWith("lfx."));
  return { report, lists: serviceLists.map((list) => list.workload) };
}

/** A past-meetings.start for an occurrence: its id, started on time. */
function pick(o: { occurrence_id: string; start_time: string }) {
  return { occurrence_id: o.occurrence_id, started_at: o.start_time };
}

/**
 * Replaces the service with a fresh instance on the buckets as the run left them (the 100,000
 * others and more): how long until it answers, its memory after loading the key indexes, and
 * that its lists are complete.
 */
async function restartOnFilledBuckets(
  nc: NatsConnection,
  service: ChildHandle,
  env: Record<string, string>,
  { logFile, lists }: { logFile: string; lists: readonly Workload[] },
): Promise<{ ready_ms: number; peak_rss_mib: number }> {
  progress("restart: a new instance on the filled buckets");
  await service.stop();
  const started = performance.now();
  const fresh = spawnNode(join(ROOT, "dist", "main.js"), { ...env, LOG_LEVEL }, logFile);
  try {
    await waitReady(fresh, "the new instance", () => answersPing(nc, SERVICE_NAME), 300_000);
    const readyMs = performance.now() - started;
    const { peak_rss_mib } = memoryOf(fresh.pid);
    for (const workload of lists) {
      const listed = await runLoad({ nc, ...workload, inFlight: 1, durationMs: 1 });
      if (listed.errors > 0) {
        throw new Error(`${workload.subject} on the new instance: ${listed.firstError ?? "?"}`);
      }
    }
    progress(
      `  ready after ${(readyMs / 1000).toFixed(1)} s, peak RSS ${peak_rss_mib.toFixed(0)} MiB`,
    );
    return { ready_ms: readyMs, peak_rss_mib };
  } finally {
    await fresh.stop();
  }
}

async function waitCaughtUp(nc: NatsConnection, workload: Workload): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const result = await runLoad({ nc, ...workload, inFlight: 1, durationMs: 1 });
    if (result.errors === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${workload.subject} still failing: ${result.firstError ?? "?"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function summary(r: LoadResult): string {
  const errors = r.errors > 0 ? `, ${r.errors} errors (${r.firstError ?? ""})` : "";
  return `${Math.round(r.rps)}/s p50 ${r.p50_ms.toFixed(2)} ms p99 ${r.p99_ms.toFixed(2)} ms${errors}`;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
