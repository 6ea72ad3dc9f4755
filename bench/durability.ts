// Durability in the benchmark (issue 20): what flushing every write to disk before acknowledging
// it (`jetstream { sync_interval: always }`, the shipped cluster/*.conf) costs, next to the
// server's default (a flush every two minutes), on one nats-server 2.10 each:
//   KV puts of 400 bytes from a client at 1 and 64 in flight (docs/MEASUREMENTS.md has earlier figures);
//   the service's meetings.create and registrants.create at 1 and 64 in flight;
//   the JetStream writes (publishes, each one flush with `always`) each write endpoint makes per
//   request, counted from the streams' last sequences around a few sequential requests.
// `runDurability` is called once by run.ts, prints its own section and writes
// bench/results/durability-latest.json. BENCH_SECONDS applies to every run here.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../test/support/nats-server.js";
import { ok } from "../test/support/request.js";
import { runLoad, type LoadResult } from "./load.js";
import { answersPing, spawnNode } from "./processes.js";

const SETTINGS = { default: undefined, always: "always" } as const;
type Setting = keyof typeof SETTINGS;
const IN_FLIGHT = [1, 64] as const;
/** Sequential requests per endpoint whose JetStream writes are counted. */
const COUNTED_REQUESTS = 20;

export interface DurabilityRow {
  what: string;
  in_flight: number;
  default: LoadResult;
  always: LoadResult;
}

export interface DurabilityReport {
  rows: DurabilityRow[];
  /** JetStream writes per request of each write endpoint, and by stream. */
  writes_per_request: { endpoint: string; writes: number; by_stream: Record<string, number> }[];
}

/** Sum of every stream's last sequence, by stream: each publish adds one. */
async function lastSequences(nc: NatsConnection): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc);
  const sequences = new Map<string, number>();
  for await (const info of jsm.streams.list()) {
    sequences.set(info.config.name, info.state.last_seq);
  }
  return sequences;
}

interface Endpoint {
  endpoint: string;
  /** The body of request `i` of the COUNTED_REQUESTS sent, given the reply to request `i - 1`. */
  body: (i: number, previous: Written | undefined) => Record<string, unknown>;
}

interface Written {
  uid: string;
  revision: number;
}

/** The write endpoints counted, on a meeting (and its registrants) created for them. */
async function writeEndpoints(nc: NatsConnection): Promise<Endpoint[]> {
  const project = randomUUID();
  const meeting = () => ok<Written>(nc, "lfx.meetings.create", meetingBody(project));
  const target = await meeting();
  // Updated by nothing else: its registrants' counts would move its revision.
  const updated = await meeting();
  const toDelete = await Promise.all(Array.from({ length: COUNTED_REQUESTS }, meeting));
  const registrants = await Promise.all(
    Array.from({ length: COUNTED_REQUESTS * 2 }, (_, i) =>
      ok<Written>(nc, "lfx.registrants.create", {
        meeting_uid: target.uid,
        email: `counted.${i}@example.org`,
      }),
    ),
  );
  const endpoints: Endpoint[] = [
    { endpoint: "meetings.create", body: () => meetingBody(project) },
    {
      endpoint: "meetings.update",
      // A revision is the stream's sequence: each update names the one its predecessor got.
      body: (i, previous) => ({
        uid: updated.uid,
        revision: (previous ?? updated).revision,
        title: `title ${i}`,
      }),
    },
    {
      endpoint: "registrants.create",
      body: (i) => ({ meeting_uid: target.uid, email: `new.${i}@example.org` }),
    },
    {
      endpoint: "registrants.update",
      body: (i) => ({
        uid: registrants[i]?.uid,
        revision: registrants[i]?.revision,
        first_name: "Ada",
      }),
    },
    {
      endpoint: "registrants.delete",
      body: (i) => ({
        uid: registrants[COUNTED_REQUESTS + i]?.uid,
        revision: registrants[COUNTED_REQUESTS + i]?.revision,
      }),
    },
    {
      endpoint: "meetings.delete",
      body: (i) => ({ uid: toDelete[i]?.uid, revision: toDelete[i]?.revision }),
    },
  ];
  return endpoints;
}

function meetingBody(project: string): Record<string, unknown> {
  return {
    project_uid: project,
    title: "Technical Steering Committee",
    start_time: "2030-01-15T15:00:00Z",
    duration: 60,
    timezone: "UTC",
  };
}

/** Sends COUNTED_REQUESTS sequential requests of each endpoint; writes per request by stream. */
async function countWrites(nc: NatsConnection): Promise<DurabilityReport["writes_per_request"]> {
  const counted: DurabilityReport["writes_per_request"] = [];
  for (const { endpoint, body } of await writeEndpoints(nc)) {
    const before = await lastSequences(nc);
    let previous: Written | undefined;
    for (let i = 0; i < COUNTED_REQUESTS; i++) {
      previous = await ok<Written>(nc, `lfx.${endpoint}`, body(i, previous));
    }
    const after = await lastSequences(nc);
    const byStream: Record<string, number> = {};
    let writes = 0;
    for (const [stream, seq] of after) {
      const delta = seq - (before.get(stream) ?? 0);
      if (delta === 0) continue;
      byStream[stream] = delta / COUNTED_REQUESTS;
      writes += delta;
    }
    counted.push({ endpoint, writes: writes / COUNTED_REQUESTS, by_stream: byStream });
  }
  return counted;
}

async function measureSetting(
  setting: Setting,
  runMs: number,
  root: string,
): Promise<{ results: Map<string, LoadResult>; writes?: DurabilityReport["writes_per_request"] }> {
  const server = await startNatsServer({ syncInterval: SETTINGS[setting] });
  const scratch = await mkdtemp(join(tmpdir(), "lfx-bench-durability-"));
  const nc = await connect({ servers: server.url, name: "bench-durability", noAsyncTraces: true });
  const service = spawnNode(
    join(root, "dist", "main.js"),
    {
      NATS_URL: server.url,
      AUTH_MODE: "off",
      PLATFORM_LOOKUPS: "off",
      INVITATIONS: "off",
      LOG_LEVEL: "warn",
    },
    join(scratch, "service.log"),
  );
  const results = new Map<string, LoadResult>();
  try {
    await new Kvm(nc).create(`bench_durability_${setting}`, { history: 1 });
    const value = "x".repeat(400);
    for (const inFlight of IN_FLIGHT) {
      results.set(
        `kv.put ${inFlight}`,
        await runLoad({
          nc,
          subject: "$KV.bench_durability_" + setting + ".key",
          body: () => value,
          inFlight,
          durationMs: runMs,
          // A KV put is a publish to the bucket's subject, acknowledged by JetStream.
          timeoutMs: 10_000,
        }),
      );
    }
    const deadline = Date.now() + 120_000;
    while (!(await answersPing(nc, "lfx-meeting-service").catch(() => false))) {
      if (Date.now() > deadline) throw new Error("the service did not start");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const meeting = await ok<{ uid: string }>(nc, "lfx.meetings.create", meetingBody(randomUUID()));
    const runId = randomUUID().slice(0, 8);
    for (const inFlight of IN_FLIGHT) {
      results.set(
        `meetings.create ${inFlight}`,
        await runLoad({
          nc,
          subject: "lfx.meetings.create",
          body: () => JSON.stringify(meetingBody(randomUUID())),
          inFlight,
          durationMs: runMs,
        }),
      );
      results.set(
        `registrants.create ${inFlight}`,
        await runLoad({
          nc,
          subject: "lfx.registrants.create",
          body: (i) =>
            JSON.stringify({ meeting_uid: meeting.uid, email: `d.${runId}.${i}@example.org` }),
          inFlight,
          durationMs: runMs,
        }),
      );
    }
    return {
      results,
      ...(setting === "always" ? { writes: await countWrites(nc) } : {}),
    };
  } finally {
    await nc.close();
    await service.stop();
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

function line(r: LoadResult): string {
  const errors = r.errors > 0 ? ` (${r.errors} errors)` : "";
  return `${Math.round(r.rps)}/s p50 ${r.p50_ms.toFixed(2)} p99 ${r.p99_ms.toFixed(1)} ms${errors}`;
}

/** Measures both settings, prints the section and writes bench/results/durability-latest.json. */
export async function runDurability(options: {
  runMs: number;
  root: string;
  results: string;
}): Promise<DurabilityReport> {
  process.stderr.write("durability: sync_interval default vs always (one nats-server each)\n");
  const byDefault = await measureSetting("default", options.runMs, options.root);
  const always = await measureSetting("always", options.runMs, options.root);
  const rows: DurabilityRow[] = [];
  for (const what of ["kv.put", "meetings.create", "registrants.create"]) {
    for (const inFlight of IN_FLIGHT) {
      const key = `${what} ${inFlight}`;
      const d = byDefault.results.get(key);
      const a = always.results.get(key);
      if (d !== undefined && a !== undefined) {
        rows.push({ what, in_flight: inFlight, default: d, always: a });
      }
    }
  }
  const report: DurabilityReport = { rows, writes_per_request: always.writes ?? [] };
  const out = [
    "",
    "Durability: sync_interval default (flush every 2 min) vs always (flush before each ack)",
    ...rows.map(
      (r) =>
        `  ${`${r.what} ${r.in_flight} in flight`.padEnd(30)} default ${line(r.default).padEnd(44)} always ${line(r.always)}`,
    ),
    "JetStream writes (flushes with always) per request:",
    ...report.writes_per_request.map(
      (w) =>
        `  ${w.endpoint.padEnd(20)} ${w.writes.toFixed(2)}  ${Object.entries(w.by_stream)
          .map(([stream, n]) => `${stream} ${n.toFixed(2)}`)
          .join(", ")}`,
    ),
    "",
  ];
  process.stdout.write(out.join("\n"));
  await writeFile(join(options.results, "durability-latest.json"), JSON.stringify(report, null, 2));
  return report;
}
