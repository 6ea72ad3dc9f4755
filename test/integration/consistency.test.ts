import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { execSync } from "node:child_process";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeKey } from "../../src/store/kv/keys.js";
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
  await checkConsistency(jetstream(client), {
    repair,
    now: () => new Date(),
    graceMs: 0,
    onFinding: (f) => findings.push(f),
  });
  return findings;
}

/** A check with pages of `pageSize` parents: each finding with the page being judged. */
async function checkPaged(repair: boolean, pageSize: number) {
  const findings: (Finding & { page: number | undefined })[] = [];
  const pages = new Map<string, number>();
  let judging: { parents: string; page: number } | undefined;
  await checkConsistency(jetstream(client), {
    repair,
    now: () => new Date(),
    graceMs: 0,
    pageSize,
    onFinding: (f) => findings.push({ ...f, page: judging?.page }),
    onProgress: ({ pass }) => {
      judging = pass;
      if (pass !== undefined) pages.set(pass.parents, pass.page);
    },
  });
  return { findings, pages };
}

const run = promisify(execFile);

async function cli(...args: string[]) {
  return cliWith({}, ...args);
}

async function cliWith(env: Record<string, string>, ...args: string[]) {
  try {
    const { stdout } = await run("node", ["dist/tools/check-consistency.js", ...args], {
      env: { ...process.env, NATS_URL: server.url, ...env },
    });
    return { code: 0, stdout, stderr: "" };
  } catch (err) {
    const failure = err as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

it("prints its usage for --help and refuses unknown flags without checking anything", async () => {
  const help = await cli("--help");
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^usage: npm run check-consistency/);
  expect(help.stdout).not.toMatch(/\d+ inconsistenc/);

  for (const args of [["--repiar"], ["--grace-seconds", "soon"], ["stray"]]) {
    const refused = await cli(...args);
    expect([args, refused.code]).toEqual([args, 2]);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/usage: npm run check-consistency/);
  }
});

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
  const clean = await cli("--grace-seconds", "0");
  expect(clean).toEqual({ code: 0, stdout: "0 inconsistencies found\n", stderr: "" });
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
  const lines = reported.stdout.trim().split("\n");
  expect(lines).toHaveLength(findings.length + 1);
  expect(lines.at(-1)).toBe(`${findings.length} inconsistencies found`);

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

it("judges registrant_count and artifact lists a page of parents at a time", async () => {
  const withRegistrants = async (count: number) => {
    const meeting = await ok<Entity>(client, "lfx.meetings.create", meetingInput());
    const registrants: Entity[] = [];
    for (let n = 0; n < count; n++) {
      registrants.push(
        await ok<Entity>(client, "lfx.registrants.create", {
          meeting_uid: meeting.uid,
          email: uniqueEmail(),
        }),
      );
    }
    return { meeting, registrants };
  };
  const rewrite = async <T extends object>(bucket: KV, key: string, change: (value: T) => T) => {
    const current = (await bucket.get(key))!;
    await bucket.update(key, JSON.stringify(change(current.json<T>())), current.revision);
  };
  const withRecording = async () => {
    const pastMeeting = await ok<Entity>(client, "lfx.past-meetings.start", {
      meeting_uid: (await ok<Entity>(client, "lfx.meetings.create", meetingInput())).uid,
      started_at: "2030-01-15T15:00:00Z",
    });
    const recording = await ok<Entity>(client, "lfx.recordings.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    return { pastMeeting, recording };
  };

  // Buckets are walked in the order of their last writes, so each drift is written two parents
  // after the other: with pages of two they are judged in different pages.
  const early = await withRegistrants(2);
  await rewrite<{ registrant_count: number }>(kv.meetings, early.meeting.uid, (m) => ({
    ...m,
    registrant_count: 5,
  }));
  // A registrant's meeting index key lost, and one left without a registrant: the counts of
  // their meetings are right, only the keys are reported.
  const lostKey = await withRegistrants(1);
  const lost = lostKey.registrants[0]!.uid;
  await kv.registrants.delete(encodeKey(["index", "meeting", lostKey.meeting.uid, lost]));
  const ghost = await withRegistrants(1);
  await kv.registrants.put(encodeKey(["index", "meeting", ghost.meeting.uid, "ghost"]), "ghost");
  const late = await withRegistrants(1);
  await rewrite<{ registrant_count: number }>(kv.meetings, late.meeting.uid, (m) => ({
    ...m,
    registrant_count: 0,
  }));

  const first = await withRecording();
  await rewrite<{ recording_uids: string[] }>(kv.pastMeetings, first.pastMeeting.uid, (p) => ({
    ...p,
    recording_uids: [],
  }));
  await withRecording();
  await withRecording();
  const last = await withRecording();
  await rewrite<{ recording_uids: string[] }>(kv.pastMeetings, last.pastMeeting.uid, (p) => ({
    ...p,
    recording_uids: [...p.recording_uids, "nowhere"],
  }));

  const reported = await checkPaged(false, 2);
  expect(
    reported.findings.map(({ kind, subject, message }) => `${kind} ${subject}: ${message}`).sort(),
  ).toEqual(
    [
      `registrant-count ${early.meeting.uid}: registrant_count is 5, registrants 2`,
      `registrant-count ${late.meeting.uid}: registrant_count is 0, registrants 1`,
      `missing-index-key index/meeting/${lostKey.meeting.uid}/${lost}: missing for ${lost}`,
      `orphan-index-key index/meeting/${ghost.meeting.uid}/ghost: ghost does not match`,
      `artifact-list ${first.pastMeeting.uid}: recording_uids: 1 missing (${first.recording.uid}), 0 pointing nowhere ()`,
      `artifact-list ${last.pastMeeting.uid}: recording_uids: 0 missing (), 1 pointing nowhere (nowhere)`,
    ].sort(),
  );
  const pageOf = (subject: string) => reported.findings.find((f) => f.subject === subject)?.page;
  expect(pageOf(early.meeting.uid)).toBeDefined();
  expect(pageOf(early.meeting.uid)).not.toBe(pageOf(late.meeting.uid));
  expect(pageOf(first.pastMeeting.uid)).toBeDefined();
  expect(pageOf(first.pastMeeting.uid)).not.toBe(pageOf(last.pastMeeting.uid));
  // At least the 8 meetings and 4 past meetings of this test, two to a page.
  expect(reported.pages.get("meetings")).toBeGreaterThanOrEqual(4);
  expect(reported.pages.get("past-meetings")).toBeGreaterThanOrEqual(2);

  const repaired = await checkPaged(true, 2);
  expect(repaired.findings).toHaveLength(reported.findings.length);
  expect((await checkPaged(false, 2)).findings).toEqual([]);
  expect(await check(false)).toEqual([]);
  for (const [{ meeting }, count] of [
    [early, 2],
    [late, 1],
    [lostKey, 1],
  ] as const) {
    const stored = await ok<{ registrant_count: number }>(client, "lfx.meetings.get", {
      uid: meeting.uid,
    });
    expect(stored.registrant_count).toBe(count);
  }
  for (const { pastMeeting, recording } of [first, last]) {
    const stored = await ok<{ recording_uids: string[] }>(client, "lfx.past-meetings.get", {
      uid: pastMeeting.uid,
    });
    expect(stored.recording_uids).toEqual([recording.uid]);
  }
});

it("reports damage planted a moment before it was started, with the default grace", async () => {
  // The default grace is the request deadline (2 x KV_TIMEOUT_MS + 500 ms): the command waits it
  // out first, so nothing written before it started is hidden as "maybe in flight".
  const meeting = await ok<Entity & { project_uid: string }>(
    client,
    "lfx.meetings.create",
    meetingInput(),
  );
  const current = (await kv.meetings.get(meeting.uid))!;
  await kv.meetings.update(
    meeting.uid,
    JSON.stringify({ ...current.json<object>(), registrant_count: 3 }),
    current.revision,
  );
  await kv.meetings.put(encodeKey(["index", "project", meeting.project_uid, "planted"]), "x");

  const reported = await cliWith({ KV_TIMEOUT_MS: "200" });
  expect(reported.code).toBe(1);
  const lines = reported.stdout.trim().split("\n");
  expect(lines.some((l) => l.startsWith("registrant-count") && l.includes(meeting.uid))).toBe(true);
  expect(lines.some((l) => l.startsWith("orphan-index-key") && l.includes("planted"))).toBe(true);
  await cli("--repair", "--grace-seconds", "0");
});

it("reports two registrants with one email as a duplicate, and its repair never moves the claim", async () => {
  const meeting = await ok<Entity>(client, "lfx.meetings.create", meetingInput());
  const email = uniqueEmail();
  const first = await ok<Entity>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email,
  });
  // A second registrant with the same email, as a bug or a hand-made write would leave it.
  const stored = (await kv.registrants.get(encodeKey(["registrant", first.uid])))!;
  const twin = { ...stored.json<Record<string, unknown>>(), uid: "twin" };
  await kv.registrants.put(encodeKey(["registrant", "twin"]), JSON.stringify(twin));
  await kv.registrants.put(encodeKey(["index", "meeting", meeting.uid, "twin"]), "twin");
  await kv.registrants.put(encodeKey(["index", "email", email, "twin"]), "twin");
  const current = (await kv.meetings.get(meeting.uid))!;
  await kv.meetings.update(
    meeting.uid,
    JSON.stringify({ ...current.json<object>(), registrant_count: 2 }),
    current.revision,
  );

  const findings = await check(true);
  expect(findings.map((f) => [f.kind, f.subject])).toEqual([
    ["duplicate", `unique/meeting-email/${meeting.uid}/${email}`],
  ]);
  const claim = await kv.registrants.get(
    encodeKey(["unique", "meeting-email", meeting.uid, email]),
  );
  expect(claim?.json<{ uid: string }>().uid).toBe(first.uid);
  // Left for a person: a second run reports it again.
  expect((await check(true)).map((f) => f.kind)).toEqual(["duplicate"]);
  await kv.registrants.delete(encodeKey(["registrant", "twin"]));
  await check(true);
});
