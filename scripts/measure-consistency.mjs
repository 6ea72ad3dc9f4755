// Measures `check-consistency` at scale (docs/RELIABILITY.md, "Consistency at scale"): starts a
// private nats-server, fills the buckets with a consistent data set in exactly the service's
// layout (the key builders of dist/store, so `npm run build` first), then runs the built CLI under
// `/usr/bin/time -v` and reports wall time and peak RSS. It then seeds a few inconsistencies spread
// over the data set and checks that each CLI reports exactly them, that --repair fixes them, and
// that a last run is clean.
//
//   node scripts/measure-consistency.mjs [--meetings 100000] [--with-registrants 5000]
//     [--registrants-each 20] [--past-meetings 20000] [--cli dist/tools/check-consistency.js]...
//     [--no-damage]
//
// Each --cli is a built check-consistency.js, optionally after environment settings of its own
// (`--cli "KV_TIMEOUT_MS=60000 /tmp/before/dist/tools/check-consistency.js"`).
//
// bench/fill.ts is not reused: it fills registrants of meetings that do not exist and meetings
// without settings (what the list benchmark needs), which this check would report one by one.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { nanoid } from "nanoid";
import { BUCKET_NAMES, bucketSettings } from "../dist/store/kv/buckets.js";
import { directKey, encodeKey } from "../dist/store/kv/keys.js";
import { meetingIndexKeys } from "../dist/store/resources/meetings.js";
import {
  pastMeetingChildKey,
  pastMeetingIndexKeys,
} from "../dist/store/resources/past-meetings.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  registrantKey,
} from "../dist/store/resources/registrants.js";

const CHUNK = 2000;

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const clis = process.argv.flatMap((arg, i) => (arg === "--cli" ? [process.argv[i + 1] ?? ""] : []));
if (clis.length === 0) clis.push("dist/tools/check-consistency.js");
const sizes = {
  meetings: option("meetings", 100_000),
  withRegistrants: option("with-registrants", 5_000),
  registrantsEach: option("registrants-each", 20),
  pastMeetings: option("past-meetings", 20_000),
};

const log = (line) => process.stderr.write(`${line}\n`);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startServer(dir) {
  const port = await freePort();
  const child = spawn(
    process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server",
    ["-js", "-sd", join(dir, "js"), "-a", "127.0.0.1", "-p", String(port)],
    { stdio: "ignore" },
  );
  const url = `nats://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      return { child, url, nc: await connect({ servers: url }) };
    } catch (err) {
      if (attempt > 100) throw err;
      await sleep(100);
    }
  }
}

/** Publishes every put (`$KV.<bucket>.<key>`), then waits until the stream holds them all. */
async function putAll(nc, jsm, bucket, puts) {
  const stream = `KV_${bucket}`;
  const before = (await jsm.streams.info(stream)).state.messages;
  let count = 0;
  for (const { key, value } of puts) {
    nc.publish(`$KV.${bucket}.${key}`, value);
    count += 1;
    if (count % CHUNK === 0) await nc.flush();
  }
  await nc.flush();
  for (;;) {
    const stored = (await jsm.streams.info(stream)).state.messages - before;
    if (stored >= count) return count;
    await sleep(100);
  }
}

const stamp = new Date().toISOString();

function meetingOf(uid, projectUid, registrantCount) {
  return {
    uid,
    project_uid: projectUid,
    title: "Technical Steering Committee",
    description: "Weekly sync of the technical steering committee",
    start_time: "2030-01-15T15:00:00Z",
    duration: 60,
    timezone: "America/New_York",
    platform: "Zoom",
    early_join_time_minutes: 10,
    visibility: "public",
    registrant_count: registrantCount,
    created_at: stamp,
    updated_at: stamp,
  };
}

function registrantOf(uid, meetingUid) {
  return {
    uid,
    meeting_uid: meetingUid,
    email: `person.${uid.toLowerCase()}@example.org`,
    first_name: "Ada",
    last_name: "Lovelace",
    type: "direct",
    created_at: stamp,
    updated_at: stamp,
  };
}

function pastMeetingOf(uid, meeting, recordingUid, transcriptUid) {
  return {
    uid,
    meeting_uid: meeting.uid,
    project_uid: meeting.project_uid,
    scheduled_start_time: "2030-01-15T15:00:00Z",
    scheduled_end_time: "2030-01-15T16:00:00Z",
    title: meeting.title,
    timezone: meeting.timezone,
    duration: 60,
    platform: "Zoom",
    early_join_time_minutes: 10,
    recording_uids: [recordingUid],
    transcript_uids: [transcriptUid],
    summary_uids: [],
    created_at: stamp,
    updated_at: stamp,
  };
}

function artifactOf(uid, pastMeetingUid) {
  return {
    uid,
    past_meeting_uid: pastMeetingUid,
    total_size: 1024,
    recording_count: 1,
    recording_files: [],
    sessions: [],
    created_at: stamp,
    updated_at: stamp,
  };
}

/** A consistent data set; returns the uids the damage is seeded on. */
async function fill(nc, jsm) {
  const meetings = [];
  const meetingPuts = [];
  const settingsPuts = [];
  let project = randomUUID();
  for (let n = 0; n < sizes.meetings; n++) {
    if (n % 20 === 0) project = randomUUID();
    const registrants = n < sizes.withRegistrants ? sizes.registrantsEach : 0;
    const meeting = meetingOf(nanoid(), project, registrants);
    meetings.push(meeting);
    for (const key of meetingIndexKeys(meeting)) meetingPuts.push({ key, value: meeting.uid });
    meetingPuts.push({ key: directKey(meeting.uid), value: JSON.stringify(meeting) });
    const settings = { uid: meeting.uid, organizers: [], created_at: stamp, updated_at: stamp };
    settingsPuts.push({ key: meeting.uid, value: JSON.stringify(settings) });
  }
  log(`meetings: ${await putAll(nc, jsm, BUCKET_NAMES.meetings, meetingPuts)} keys`);
  log(`settings: ${await putAll(nc, jsm, BUCKET_NAMES.meetingSettings, settingsPuts)} keys`);

  const registrantPuts = [];
  const registrantsOf = new Map();
  for (const meeting of meetings.slice(0, sizes.withRegistrants)) {
    const uids = [];
    for (let n = 0; n < sizes.registrantsEach; n++) {
      const registrant = registrantOf(nanoid(), meeting.uid);
      uids.push(registrant.uid);
      registrantPuts.push({
        key: registrantEmailClaimKey(meeting.uid, registrant.email),
        value: JSON.stringify({ uid: registrant.uid, claimed_at: stamp }),
      });
      for (const key of registrantIndexKeys(registrant))
        registrantPuts.push({ key, value: registrant.uid });
      registrantPuts.push({
        key: registrantKey(registrant.uid),
        value: JSON.stringify(registrant),
      });
    }
    registrantsOf.set(meeting.uid, uids);
  }
  log(`registrants: ${await putAll(nc, jsm, BUCKET_NAMES.registrants, registrantPuts)} keys`);

  const pastMeetingPuts = [];
  const recordingPuts = [];
  const transcriptPuts = [];
  const pastMeetings = [];
  for (let n = 0; n < sizes.pastMeetings; n++) {
    const meeting = meetings[n % meetings.length];
    const [uid, recording, transcript] = [nanoid(), nanoid(), nanoid()];
    const pastMeeting = pastMeetingOf(uid, meeting, recording, transcript);
    pastMeetings.push(pastMeeting);
    for (const key of pastMeetingIndexKeys(pastMeeting)) pastMeetingPuts.push({ key, value: uid });
    pastMeetingPuts.push({ key: uid, value: JSON.stringify(pastMeeting) });
    for (const [puts, artifact] of [
      [recordingPuts, recording],
      [transcriptPuts, transcript],
    ]) {
      puts.push({ key: pastMeetingChildKey(uid, artifact), value: artifact });
      puts.push({ key: artifact, value: JSON.stringify(artifactOf(artifact, uid)) });
    }
  }
  log(`past meetings: ${await putAll(nc, jsm, BUCKET_NAMES.pastMeetings, pastMeetingPuts)} keys`);
  log(`recordings: ${await putAll(nc, jsm, BUCKET_NAMES.recordings, recordingPuts)} keys`);
  log(`transcripts: ${await putAll(nc, jsm, BUCKET_NAMES.transcripts, transcriptPuts)} keys`);
  return { meetings, registrantsOf, pastMeetings };
}

/** Runs a CLI under /usr/bin/time -v: exit code, finding lines, wall seconds, peak RSS in MiB. */
function measure(spec, url, ...args) {
  const words = spec.split(" ").filter((word) => word !== "");
  const cli = words.pop() ?? "";
  const env = Object.fromEntries(words.map((word) => word.split("=")));
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-v", "node", cli, "--grace-seconds", "0", ...args], {
      env: { ...process.env, ...env, NATS_URL: url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.*)/.exec(stderr)?.[1] ?? "";
      const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
      const seconds = wall
        .split(":")
        .map(Number)
        .reduce((total, part) => total * 60 + part, 0);
      const lines = stdout.split("\n").filter((line) => line !== "");
      const summary =
        stderr.split("\n").find((line) => / found|failed/.test(line)) ?? stderr.slice(0, 500);
      resolve({ code, lines, seconds, rssMiB: Math.round(rssKb / 1024), summary });
    });
  });
}

async function seedDamage(kvm, { meetings, registrantsOf, pastMeetings }) {
  const open = (id) => kvm.open(BUCKET_NAMES[id]);
  const [meetingsKv, settingsKv, registrantsKv, pastMeetingsKv] = await Promise.all(
    ["meetings", "meetingSettings", "registrants", "pastMeetings"].map(open),
  );
  const withRegistrants = meetings.slice(0, sizes.withRegistrants);
  const early = withRegistrants[1];
  const late = withRegistrants[withRegistrants.length - 2];
  const middle = withRegistrants[Math.floor(withRegistrants.length / 2)];
  const rewrite = async (kv, key, change) => {
    const entry = await kv.get(key);
    await kv.update(key, JSON.stringify(change(entry.json())), entry.revision);
  };
  // A registrant_count drift on the last meeting with registrants, another page than the first.
  await rewrite(meetingsKv, late.uid, (m) => ({ ...m, registrant_count: m.registrant_count + 5 }));
  // An index key lost (the count still matches) and one left behind (likewise).
  const lost = registrantsOf.get(early.uid)[0];
  await registrantsKv.delete(encodeKey(["index", "meeting", early.uid, lost]));
  await registrantsKv.put(encodeKey(["index", "meeting", middle.uid, "ghost"]), "ghost");
  // A registrant whose meeting does not exist.
  const orphan = registrantOf(nanoid(), "ghostMeeting");
  for (const key of registrantIndexKeys(orphan)) await registrantsKv.put(key, orphan.uid);
  await registrantsKv.put(registrantKey(orphan.uid), JSON.stringify(orphan));
  // A meeting without settings, in the last page.
  await settingsKv.delete(meetings[meetings.length - 1].uid);
  // Artifact lists: one uid lost early, one pointing nowhere late.
  await rewrite(pastMeetingsKv, pastMeetings[0].uid, (p) => ({ ...p, recording_uids: [] }));
  await rewrite(pastMeetingsKv, pastMeetings[pastMeetings.length - 1].uid, (p) => ({
    ...p,
    transcript_uids: [...p.transcript_uids, "nowhere"],
  }));
  return [
    `registrant-count meetings ${late.uid}`,
    `missing-index-key meeting-registrants index/meeting/${early.uid}/${lost}`,
    `orphan-index-key meeting-registrants index/meeting/${middle.uid}/ghost`,
    `orphan-entity meeting-registrants ${orphan.uid}`,
    `missing-settings meeting-settings ${meetings[meetings.length - 1].uid}`,
    `artifact-list past-meetings ${pastMeetings[0].uid}`,
    `artifact-list past-meetings ${pastMeetings[pastMeetings.length - 1].uid}`,
  ].sort();
}

function report(label, run) {
  log(`${label}: exit ${run.code}, ${run.seconds.toFixed(1)} s, max RSS ${run.rssMiB} MiB`);
  if (run.code !== 0 && run.code !== 1) log(`  ${run.summary}`);
}

const dir = await mkdtemp(join(tmpdir(), "measure-consistency-"));
const { child, url, nc } = await startServer(dir);
let failed = false;
try {
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(jetstream(nc));
  for (const id of Object.keys(BUCKET_NAMES)) {
    if (id !== "idempotency") await kvm.create(BUCKET_NAMES[id], bucketSettings(id, 1));
  }
  log(`filling ${JSON.stringify(sizes)}`);
  const data = await fill(nc, jsm);
  for (const cli of clis) {
    const clean = await measure(cli, url);
    report(`${cli}, consistent data`, clean);
    if (clean.code !== 0) failed = true;
  }
  if (!process.argv.includes("--no-damage")) {
    const expected = await seedDamage(kvm, data);
    for (const cli of clis) {
      const damaged = await measure(cli, url);
      report(`${cli}, seeded damage`, damaged);
      const found = damaged.lines.map((line) => line.split(":")[0]).sort();
      if (damaged.code !== 1 || JSON.stringify(found) !== JSON.stringify(expected)) {
        failed = true;
        log(`expected:\n  ${expected.join("\n  ")}\nfound:\n  ${found.join("\n  ")}`);
      }
    }
    const cli = clis[clis.length - 1];
    const repaired = await measure(cli, url, "--repair");
    report(`${cli} --repair`, repaired);
    const after = await measure(cli, url);
    report(`${cli}, after the repair`, after);
    if (repaired.code !== 0 || repaired.lines.length !== expected.length || after.code !== 0) {
      failed = true;
      log(after.lines.join("\n"));
    }
  }
} finally {
  await nc.close();
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  await rm(dir, { recursive: true, force: true });
}
log(failed ? "FAILED" : "ok");
process.exitCode = failed ? 1 : 0;
