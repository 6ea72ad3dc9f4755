import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { execSync } from "node:child_process";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeKey } from "../../src/store/keys.js";
import {
  checkConsistency,
  type ConsistencyBuckets,
  type Finding,
} from "../../src/tools/consistency.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ok } from "../support/request.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";

interface Entity {
  uid: string;
  revision: number;
}

let server: NatsServerHandle;
let instance: TestInstance;
let client: NatsConnection;
let kv: ConsistencyBuckets;

beforeAll(async () => {
  if (!existsSync("dist/tools/check-consistency.js"))
    execSync("npm run build", { stdio: "ignore" });
  server = await startNatsServer();
  instance = await startInstance(server.url);
  client = await connectClient(server.url);
  const kvm = new Kvm(client);
  kv = {
    meetings: await kvm.open("meetings"),
    meetingSettings: await kvm.open("meeting-settings"),
    registrants: await kvm.open("meeting-registrants"),
    rsvps: await kvm.open("meeting-rsvps"),
    pastMeetings: await kvm.open("past-meetings"),
    participants: await kvm.open("past-meeting-participants"),
    recordings: await kvm.open("past-meeting-recordings"),
    transcripts: await kvm.open("past-meeting-transcripts"),
    summaries: await kvm.open("past-meeting-summaries"),
  };
}, 120_000);

afterAll(async () => {
  await client?.close();
  await instance?.stop();
  await server?.stop();
});

async function check(repair: boolean): Promise<Finding[]> {
  const findings: Finding[] = [];
  await checkConsistency(kv, {
    repair,
    now: () => new Date(),
    graceMs: 0,
    onFinding: (f) => findings.push(f),
  });
  return findings;
}

const run = promisify(execFile);

async function cli(...args: string[]) {
  try {
    const { stdout } = await run("node", ["dist/tools/check-consistency.js", ...args], {
      env: { ...process.env, NATS_URL: server.url },
    });
    return { code: 0, stdout };
  } catch (err) {
    const failure = err as { code: number; stdout: string };
    return { code: failure.code, stdout: failure.stdout };
  }
}

it("finds nothing in what the service wrote", async () => {
  const meeting = await ok<Entity>(client, "lfx.meetings.create", meetingInput());
  const registrant = await ok<Entity>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: uniqueEmail(),
  });
  await ok(client, "lfx.rsvps.create", {
    meeting_uid: meeting.uid,
    registrant_uid: registrant.uid,
    response: "accepted",
    scope: "all",
  });
  expect(await check(false)).toEqual([]);
  expect((await cli("--grace-seconds", "0")).code).toBe(0);
});

it("reports each kind of damage, repairs it, and is clean afterwards", async () => {
  const meeting = await ok<Entity & { project_uid: string }>(
    client,
    "lfx.meetings.create",
    meetingInput(),
  );
  const email = uniqueEmail();
  const registrant = await ok<Entity>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email,
  });
  const lonely = await ok<Entity>(client, "lfx.meetings.create", meetingInput());

  // A crash after the registrant but before its email index key and the count.
  await kv.registrants.delete(encodeKey(["index", "email", email, registrant.uid]));
  const current = (await kv.meetings.get(meeting.uid))!;
  await kv.meetings.update(
    meeting.uid,
    JSON.stringify({ ...current.json<object>(), registrant_count: 5 }),
    current.revision,
  );
  // Leftovers of crashed creates and deletes.
  await kv.registrants.put(encodeKey(["index", "meeting", meeting.uid, "ghost"]), "ghost");
  await kv.registrants.put(
    encodeKey(["unique", "meeting-email", meeting.uid, "ghost@example.org"]),
    JSON.stringify({ uid: "ghost", claimed_at: new Date(0).toISOString() }),
  );
  await kv.meetings.put(encodeKey(["index", "project", meeting.project_uid, "ghost"]), "ghost");
  await kv.meetingSettings.put(
    "ghostMeeting",
    JSON.stringify({ uid: "ghostMeeting", organizers: [] }),
  );
  await kv.meetingSettings.delete(lonely.uid);

  const findings = await check(false);
  expect(findings.map((f) => f.kind).sort()).toEqual(
    [
      "missing-index-key",
      "missing-settings",
      "orphan-claim",
      "orphan-index-key",
      "orphan-index-key",
      "orphan-settings",
      "registrant-count",
    ].sort(),
  );
  expect(findings.find((f) => f.kind === "registrant-count")?.subject).toBe(meeting.uid);

  const reported = await cli("--grace-seconds", "0");
  expect(reported.code).toBe(1);
  expect(reported.stdout.trim().split("\n")).toHaveLength(findings.length);

  const repaired = await cli("--repair", "--grace-seconds", "0");
  expect(repaired.code).toBe(0);
  expect(await check(false)).toEqual([]);
  const fixed = await ok<{ registrant_count: number }>(client, "lfx.meetings.get", {
    uid: meeting.uid,
  });
  expect(fixed.registrant_count).toBe(1);
});

it("checks the lifecycle: artifact lists, orphans of a deleted past meeting, stale claims", async () => {
  const meeting = await ok<Entity>(client, "lfx.meetings.create", meetingInput());
  const pastMeeting = await ok<Entity & { recording_uids: string[] }>(
    client,
    "lfx.past-meetings.start",
    {
      meeting_uid: meeting.uid,
      started_at: "2030-01-15T15:00:00Z",
    },
  );
  const recording = await ok<Entity>(client, "lfx.recordings.create", {
    past_meeting_uid: pastMeeting.uid,
  });
  await ok(client, "lfx.participants.join", {
    past_meeting_uid: pastMeeting.uid,
    email: uniqueEmail(),
    joined_at: "2030-01-15T15:01:00Z",
  });
  const gone = await ok<Entity>(client, "lfx.past-meetings.start", {
    meeting_uid: (await ok<Entity>(client, "lfx.meetings.create", meetingInput())).uid,
    started_at: "2030-01-15T15:00:00Z",
  });
  const orphan = await ok<Entity>(client, "lfx.transcripts.create", { past_meeting_uid: gone.uid });

  // The recording's uid lost from its list and a uid that points nowhere; a past meeting deleted
  // without its cascade; a start claim of a past meeting that never appeared.
  const current = (await kv.pastMeetings.get(pastMeeting.uid))!;
  const stored = current.json<{ recording_uids: string[] }>();
  await kv.pastMeetings.update(
    pastMeeting.uid,
    JSON.stringify({ ...stored, recording_uids: ["nowhere"] }),
    current.revision,
  );
  await kv.pastMeetings.delete(gone.uid);
  await kv.pastMeetings.put(
    encodeKey(["unique", "start", meeting.uid, "1"]),
    JSON.stringify({ uid: "ghost", claimed_at: new Date(0).toISOString() }),
  );

  const findings = await check(false);
  expect(findings.map((f) => `${f.kind} ${f.bucket}`).sort()).toEqual(
    [
      "artifact-list past-meetings",
      "orphan-claim past-meetings",
      "orphan-entity past-meeting-transcripts",
      "orphan-index-key past-meetings", // the deleted past meeting's index keys
      "orphan-index-key past-meetings",
      "orphan-claim past-meetings", // and its start claim
    ].sort(),
  );
  expect(findings.find((f) => f.kind === "orphan-entity")?.subject).toBe(orphan.uid);
  await check(true);
  expect(await check(false)).toEqual([]);
  const repaired = await ok<{ recording_uids: string[] }>(client, "lfx.past-meetings.get", {
    uid: pastMeeting.uid,
  });
  expect(repaired.recording_uids).toEqual([recording.uid]);
});
