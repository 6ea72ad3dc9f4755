// `npm run bench:consistency`: `check-consistency` at scale (docs/RELIABILITY.md, "Consistency
// at scale"). Starts its own nats-server (the test kit's launcher), fills the entity buckets with
// a consistent data set in exactly the service's layout (the key builders of src/store, written
// by bench/fill.ts), then runs the built CLI under `/usr/bin/time -v` and reports wall time and
// peak RSS. It then seeds a few inconsistencies spread over the data set and checks that each CLI
// reports exactly them, that --repair fixes them, and that a last run is clean. Exits 1 if not.
//
//   npm run bench:consistency -- [--meetings 100000] [--with-registrants 5000]
//     [--registrants-each 20] [--past-meetings 20000] [--cli dist/tools/check-consistency.js]...
//     [--no-damage]
//
// Each --cli is a built check-consistency.js, optionally after environment settings of its own
// (`--cli "KV_TIMEOUT_MS=60000 /tmp/before/dist/tools/check-consistency.js"`). The fill is not
// fill.ts's `fillMeetings` / `fillRegistrants`: those write registrants of meetings that do not
// exist and meetings without settings (what the list benchmark needs), which this check would
// report one by one.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { nanoid } from "nanoid";
import type { Recording, Transcript } from "../src/generated/schema-types.js";
import { ENTITY_BUCKETS } from "../src/outbox/sources.js";
import { BUCKET_NAMES, bucketSettings, type BucketId } from "../src/store/kv/buckets.js";
import type { Claim } from "../src/store/kv/claims.js";
import { directKey, encodeKey } from "../src/store/kv/keys.js";
import type { StoredMeetingSettings } from "../src/store/resources/meeting-settings.js";
import { meetingIndexKeys, type StoredMeeting } from "../src/store/resources/meetings.js";
import {
  pastMeetingChildKey,
  pastMeetingIndexKeys,
  type StoredPastMeeting,
} from "../src/store/resources/past-meetings.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  registrantKey,
  type StoredRegistrant,
} from "../src/store/resources/registrants.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { putAll, type Filler, type Put } from "./fill.js";

const MEETINGS_PER_PROJECT = 20;

interface Sizes {
  meetings: number;
  withRegistrants: number;
  registrantsEach: number;
  pastMeetings: number;
}

const { values: args } = parseArgs({
  strict: true,
  options: {
    meetings: { type: "string", default: "100000" },
    "with-registrants": { type: "string", default: "5000" },
    "registrants-each": { type: "string", default: "20" },
    "past-meetings": { type: "string", default: "20000" },
    cli: { type: "string", multiple: true, default: ["dist/tools/check-consistency.js"] },
    "no-damage": { type: "boolean", default: false },
  },
});
const sizes: Sizes = {
  meetings: Number(args.meetings),
  withRegistrants: Number(args["with-registrants"]),
  registrantsEach: Number(args["registrants-each"]),
  pastMeetings: Number(args["past-meetings"]),
};
const clis = args.cli;

const log = (line: string) => process.stderr.write(`${line}\n`);
const stamp = new Date().toISOString();

function meetingOf(uid: string, projectUid: string, registrantCount: number): StoredMeeting {
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

function registrantOf(uid: string, meetingUid: string): StoredRegistrant {
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

/** A registrant's keys as `lfx.registrants.create` writes them: claim, index keys, entity. */
function registrantPuts(registrant: StoredRegistrant): Put[] {
  const claim: Claim = { uid: registrant.uid, claimed_at: stamp };
  return [
    {
      key: registrantEmailClaimKey(registrant.meeting_uid, registrant.email),
      value: JSON.stringify(claim),
    },
    ...registrantIndexKeys(registrant).map((key) => ({ key, value: registrant.uid })),
    { key: registrantKey(registrant.uid), value: JSON.stringify(registrant) },
  ];
}

function pastMeetingOf(
  uid: string,
  meeting: StoredMeeting,
  recordingUid: string,
  transcriptUid: string,
): StoredPastMeeting {
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
    sessions: [],
    recording_uids: [recordingUid],
    transcript_uids: [transcriptUid],
    summary_uids: [],
    created_at: stamp,
    updated_at: stamp,
  };
}

function recordingOf(uid: string, pastMeetingUid: string): Omit<Recording, "revision"> {
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

function transcriptOf(uid: string, pastMeetingUid: string): Omit<Transcript, "revision"> {
  return {
    uid,
    past_meeting_uid: pastMeetingUid,
    total_size: 1024,
    transcript_count: 1,
    transcript_files: [],
    sessions: [],
    created_at: stamp,
    updated_at: stamp,
  };
}

/** The uids the damage is seeded on. */
interface DataSet {
  meetings: StoredMeeting[];
  /** The registrant uids of the first meeting with registrants. */
  firstRegistrants: string[];
  pastMeetings: StoredPastMeeting[];
}

/** A consistent data set: meetings with settings, registrants counted, artifacts listed. */
async function fill(filler: Filler): Promise<DataSet> {
  const meetings: StoredMeeting[] = [];
  let project = randomUUID();
  for (let n = 0; n < sizes.meetings; n++) {
    if (n % MEETINGS_PER_PROJECT === 0) project = randomUUID();
    const registrants = n < sizes.withRegistrants ? sizes.registrantsEach : 0;
    meetings.push(meetingOf(nanoid(), project, registrants));
  }
  const meetingAt = (n: number) => meetings[n % meetings.length] as StoredMeeting;
  await putAll(filler, BUCKET_NAMES.meetings, meetings.length, (n) => {
    const meeting = meetingAt(n);
    return [
      ...meetingIndexKeys(meeting).map((key) => ({ key, value: meeting.uid })),
      { key: directKey(meeting.uid), value: JSON.stringify(meeting) },
    ];
  });
  await putAll(filler, BUCKET_NAMES.meetingSettings, meetings.length, (n) => {
    const { uid } = meetingAt(n);
    const settings: StoredMeetingSettings = {
      uid,
      organizers: [],
      created_at: stamp,
      updated_at: stamp,
    };
    return [{ key: uid, value: JSON.stringify(settings) }];
  });

  const firstRegistrants: string[] = [];
  const withRegistrants = Math.min(sizes.withRegistrants, meetings.length);
  await putAll(filler, BUCKET_NAMES.registrants, withRegistrants * sizes.registrantsEach, (n) => {
    const registrant = registrantOf(nanoid(), meetingAt(Math.floor(n / sizes.registrantsEach)).uid);
    if (n < sizes.registrantsEach) firstRegistrants.push(registrant.uid);
    return registrantPuts(registrant);
  });

  const pastMeetings: StoredPastMeeting[] = [];
  for (let n = 0; n < sizes.pastMeetings; n++) {
    pastMeetings.push(pastMeetingOf(nanoid(), meetingAt(n), nanoid(), nanoid()));
  }
  const pastMeetingAt = (n: number) => pastMeetings[n] as StoredPastMeeting;
  await putAll(filler, BUCKET_NAMES.pastMeetings, pastMeetings.length, (n) => {
    const pastMeeting = pastMeetingAt(n);
    return [
      ...pastMeetingIndexKeys(pastMeeting).map((key) => ({ key, value: pastMeeting.uid })),
      { key: directKey(pastMeeting.uid), value: JSON.stringify(pastMeeting) },
    ];
  });
  const artifactPuts = (pastMeetingUid: string, artifact: { uid: string }): Put[] => [
    { key: pastMeetingChildKey(pastMeetingUid, artifact.uid), value: artifact.uid },
    { key: directKey(artifact.uid), value: JSON.stringify(artifact) },
  ];
  await putAll(filler, BUCKET_NAMES.recordings, pastMeetings.length, (n) => {
    const { uid, recording_uids } = pastMeetingAt(n);
    return artifactPuts(uid, recordingOf(recording_uids[0] ?? "", uid));
  });
  await putAll(filler, BUCKET_NAMES.transcripts, pastMeetings.length, (n) => {
    const { uid, transcript_uids } = pastMeetingAt(n);
    return artifactPuts(uid, transcriptOf(transcript_uids[0] ?? "", uid));
  });
  return { meetings, firstRegistrants, pastMeetings };
}

interface Run {
  code: number | null;
  /** The finding lines on stdout, without the summary line. */
  findings: string[];
  seconds: number;
  rssMiB: number;
  /** The summary line, or what went wrong. */
  summary: string;
}

/** Runs a CLI under /usr/bin/time -v with `--grace-seconds 0`. */
function measure(spec: string, url: string, ...extra: string[]): Promise<Run> {
  const words = spec.split(" ").filter((word) => word !== "");
  const cli = words.pop() ?? "";
  const env: Record<string, string> = {};
  for (const word of words) {
    const [name = "", ...value] = word.split("=");
    env[name] = value.join("=");
  }
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-v", "node", cli, "--grace-seconds", "0", ...extra], {
      env: { ...process.env, ...env, NATS_URL: url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.*)/.exec(stderr)?.[1] ?? "";
      const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
      const seconds = wall
        .split(":")
        .map(Number)
        .reduce((total, part) => total * 60 + part, 0);
      const lines = stdout.split("\n").filter((line) => line !== "");
      // The summary is stdout's last line; a failure is on stderr.
      const summary = / found/.test(lines.at(-1) ?? "")
        ? (lines.pop() ?? "")
        : (stderr.split("\n").find((line) => /failed/.test(line)) ?? stderr.slice(0, 500));
      resolve({ code, findings: lines, seconds, rssMiB: Math.round(rssKb / 1024), summary });
    });
  });
}

/** Seeds one inconsistency of each kind the data set can show; the lines expected, sorted. */
async function seedDamage(kvm: Kvm, data: DataSet): Promise<string[]> {
  const open = (id: BucketId) => kvm.open(BUCKET_NAMES[id]);
  const meetingsKv = await open("meetings");
  const settingsKv = await open("meetingSettings");
  const registrantsKv = await open("registrants");
  const pastMeetingsKv = await open("pastMeetings");
  const { meetings, firstRegistrants, pastMeetings } = data;
  const withRegistrants = meetings.slice(0, Math.min(sizes.withRegistrants, meetings.length));
  const at = <T>(list: T[], n: number) => list.at(n) as T;
  const early = at(withRegistrants, 0);
  const late = at(withRegistrants, -2);
  const middle = at(withRegistrants, Math.floor(withRegistrants.length / 2));
  const lastMeeting = at(meetings, -1);
  const firstPast = at(pastMeetings, 0);
  const lastPast = at(pastMeetings, -1);
  const rewrite = async <T>(kv: KV, key: string, change: (value: T) => T) => {
    const entry = await kv.get(key);
    if (entry === null) throw new Error(`${key} is missing`);
    await kv.update(key, JSON.stringify(change(entry.json<T>())), entry.revision);
  };
  // A registrant_count drift on the last meeting but one with registrants (another page than the
  // first).
  await rewrite<StoredMeeting>(meetingsKv, late.uid, (m) => ({
    ...m,
    registrant_count: m.registrant_count + 5,
  }));
  // An index key lost (the count still matches) and one left behind (likewise).
  const lost = at(firstRegistrants, 0);
  await registrantsKv.delete(encodeKey(["index", "meeting", early.uid, lost]));
  await registrantsKv.put(encodeKey(["index", "meeting", middle.uid, "ghost"]), "ghost");
  // A registrant whose meeting does not exist.
  const orphan = registrantOf(nanoid(), "ghostMeeting");
  for (const { key, value } of registrantPuts(orphan)) await registrantsKv.put(key, value);
  // A meeting without settings, in the last page.
  await settingsKv.delete(lastMeeting.uid);
  // Artifact lists: one uid lost early, one pointing nowhere late.
  await rewrite<StoredPastMeeting>(pastMeetingsKv, firstPast.uid, (p) => ({
    ...p,
    recording_uids: [],
  }));
  await rewrite<StoredPastMeeting>(pastMeetingsKv, lastPast.uid, (p) => ({
    ...p,
    transcript_uids: [...p.transcript_uids, "nowhere"],
  }));
  return [
    `registrant-count meetings ${late.uid}`,
    `missing-index-key meeting-registrants index/meeting/${early.uid}/${lost}`,
    `orphan-index-key meeting-registrants index/meeting/${middle.uid}/ghost`,
    `orphan-entity meeting-registrants ${orphan.uid}`,
    `missing-settings meeting-settings ${lastMeeting.uid}`,
    `artifact-list past-meetings ${firstPast.uid}`,
    `artifact-list past-meetings ${lastPast.uid}`,
  ].sort();
}

function report(label: string, run: Run): void {
  log(`${label}: exit ${run.code}, ${run.seconds.toFixed(1)} s, max RSS ${run.rssMiB} MiB`);
  if (run.code !== 0 && run.code !== 1) log(`  ${run.summary}`);
}

async function main(): Promise<boolean> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  let ok = true;
  try {
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(jetstream(nc));
    for (const id of ENTITY_BUCKETS) await kvm.create(BUCKET_NAMES[id], bucketSettings(id, 1));
    log(`filling ${JSON.stringify(sizes)}`);
    const data = await fill({ nc, jsm });
    for (const cli of clis) {
      const clean = await measure(cli, server.url);
      report(`${cli}, consistent data`, clean);
      if (clean.code !== 0) ok = false;
    }
    if (args["no-damage"]) return ok;
    const expected = await seedDamage(kvm, data);
    for (const cli of clis) {
      const damaged = await measure(cli, server.url);
      report(`${cli}, seeded damage`, damaged);
      const found = damaged.findings.map((line) => line.split(":")[0] ?? "").sort();
      if (damaged.code !== 1 || JSON.stringify(found) !== JSON.stringify(expected)) {
        ok = false;
        log(`expected:\n  ${expected.join("\n  ")}\nfound:\n  ${found.join("\n  ")}`);
      }
    }
    const cli = clis.at(-1) ?? "";
    const repaired = await measure(cli, server.url, "--repair");
    report(`${cli} --repair`, repaired);
    const after = await measure(cli, server.url);
    report(`${cli}, after the repair`, after);
    if (repaired.code !== 0 || repaired.findings.length !== expected.length || after.code !== 0) {
      ok = false;
      log(after.findings.join("\n"));
    }
    return ok;
  } finally {
    await nc.close();
    await server.stop();
  }
}

main().then(
  (ok) => {
    log(ok ? "ok" : "FAILED");
    process.exitCode = ok ? 0 : 1;
  },
  (err: unknown) => {
    log(`bench:consistency failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
