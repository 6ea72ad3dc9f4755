// Measures the delivery lag the outbox adds (README "Platform messages"): starts a private
// nats-server with the platform's fga-sync-events stream, one service instance (`node
// dist/main.js`, so `npm run build` first), a subscriber on lfx.index.meeting, and a load of
// meetings.create with `--in-flight` requests (default 64) for `--seconds` (default 5). The lag of
// one create is the time from its reply to the arrival of its index message (negative when the
// message came first), and from its reply to its access message's acknowledgement by the stream
// (its stream timestamp). Prints p50/p99/max of both and the create rate.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}
const inFlight = option("in-flight", 64);
const seconds = option("seconds", 5);
const log = (line) => process.stderr.write(`${line}\n`);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v) => Math.round(v * 10) / 10;
  return {
    n: sorted.length,
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.at(-1) ?? NaN),
  };
}

const dir = await mkdtemp(join(tmpdir(), "outbox-lag-"));
const port = await freePort();
const server = spawn(
  process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server",
  ["-js", "-sd", join(dir, "js"), "-a", "127.0.0.1", "-p", String(port)],
  { stdio: "ignore" },
);
const url = `nats://127.0.0.1:${port}`;
let nc;
for (let attempt = 0; nc === undefined; attempt++) {
  try {
    nc = await connect({ servers: url });
  } catch (err) {
    if (attempt > 100) throw err;
    await sleep(100);
  }
}
const service = spawn(process.execPath, ["dist/main.js"], {
  env: { ...process.env, NATS_URL: url, LOG_LEVEL: "info" },
  stdio: ["ignore", "pipe", "inherit"],
});
try {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "fga-sync-events", subjects: ["lfx.fga-sync.>"] });
  let started = false;
  service.stdout.on("data", (chunk) => {
    if (String(chunk).includes('"feed lease taken"')) started = true;
  });
  while (!started) await sleep(50);

  const indexedAt = new Map();
  nc.subscribe("lfx.index.meeting", {
    callback: (_err, msg) => {
      const body = msg.json();
      if (body.action === "created") indexedAt.set(body.indexing_config.object_id, Date.now());
    },
  });
  await nc.flush();

  const repliedAt = new Map();
  const project = randomUUID();
  const deadline = Date.now() + seconds * 1000;
  const worker = async () => {
    while (Date.now() < deadline) {
      const body = {
        project_uid: project,
        title: "lag",
        start_time: "2030-01-15T15:00:00Z",
        duration: 60,
        timezone: "UTC",
        organizers: ["ada"],
      };
      const reply = await nc.request("lfx.meetings.create", JSON.stringify(body), {
        timeout: 5000,
      });
      repliedAt.set(reply.json().uid, Date.now());
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  log(`${repliedAt.size} creates in ${seconds} s`);
  const waitUntil = Date.now() + 30_000;
  while (indexedAt.size < repliedAt.size && Date.now() < waitUntil) await sleep(100);

  const accessAt = new Map();
  let next = 1;
  // The access messages: read from the stream as they are acknowledged, until every create's.
  while (accessAt.size < repliedAt.size && Date.now() < waitUntil + 30_000) {
    const info = await jsm.streams.info("fga-sync-events");
    for (; next <= info.state.last_seq; next++) {
      const msg = await jsm.streams.getMessage("fga-sync-events", { seq: next });
      const uid = msg.json().data.uid;
      if (!accessAt.has(uid)) accessAt.set(uid, msg.time.getTime());
    }
    await sleep(200);
  }
  const lag = (at) =>
    [...repliedAt].filter(([uid]) => at.has(uid)).map(([uid, t]) => at.get(uid) - t);
  process.stdout.write(
    `${JSON.stringify({
      in_flight: inFlight,
      creates_per_s: Math.round(repliedAt.size / seconds),
      index_lag: summary(lag(indexedAt)),
      index_missing: repliedAt.size - lag(indexedAt).length,
      access_lag: summary(lag(accessAt)),
      access_missing: repliedAt.size - lag(accessAt).length,
    })}\n`,
  );
} finally {
  service.kill("SIGTERM");
  await new Promise((resolve) => service.once("exit", resolve));
  await nc.close();
  server.kill();
  await rm(dir, { recursive: true, force: true });
}
