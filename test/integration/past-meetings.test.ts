// lfx.past-meetings.* (docs/CONTRACT.md §4 "Lifecycle rules", §5 "past meeting") over NATS, two
// instances.
import { Kvm } from "@nats-io/kv";
import { decodeKey } from "../../src/store/kv/keys.js";
import { uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { ok, request } from "../support/request.js";
import {
  dailyOccurrenceId,
  dailyOccurrenceStart,
  errorPaths,
  expectEntity,
  lifecycleClient,
  type ErrorBody,
  type Participant,
  type PastMeeting,
} from "../support/lifecycle-kit.js";

const harness = useServiceHarness(2);
const kit = lifecycleClient(() => harness.client);

const createPastMeeting = (body: Record<string, unknown>, headers?: Record<string, string>) =>
  request<PastMeeting>(
    harness.client,
    "lfx.past-meetings.create",
    body,
    headers === undefined ? {} : { headers },
  );

describe("lfx.past-meetings.start", () => {
  it("snapshots the meeting, sets the occurrence's times and opens a session", async () => {
    const meeting = await kit.createMeeting({
      description: "weekly sync",
      visibility: "public",
      recording_enabled: true,
      zoom_config: { meeting_id: "9876543210", ai_summary_require_approval: true },
      committees: [{ uid: "4f0c3b2e-9a51-4d55-8a37-6f1d2b0c9e11" }],
    });
    const reply = await kit.start({ meeting_uid: meeting.uid, started_at: "2030-01-15T15:03:00Z" });
    expect(reply.status).toBe(200);
    const pastMeeting = reply.body;
    await expectEntity("past-meeting", pastMeeting);
    expect(pastMeeting).toMatchObject({
      meeting_uid: meeting.uid,
      project_uid: meeting.project_uid,
      occurrence_id: String(Date.UTC(2030, 0, 15, 15) / 1000),
      scheduled_start_time: "2030-01-15T15:00:00Z",
      scheduled_end_time: "2030-01-15T16:00:00Z",
      title: meeting.title,
      description: "weekly sync",
      timezone: "America/New_York",
      duration: 60,
      platform: "Zoom",
      early_join_time_minutes: 10,
      visibility: "public",
      recording_enabled: true,
      zoom_config: { meeting_id: "9876543210", ai_summary_require_approval: true },
      committees: [{ uid: "4f0c3b2e-9a51-4d55-8a37-6f1d2b0c9e11" }],
      public_link: meeting["public_link"],
      platform_meeting_id: "9876543210",
      recording_uids: [],
      transcript_uids: [],
      summary_uids: [],
    });
    expect(pastMeeting.sessions).toEqual([
      { uid: expect.any(String) as string, start_time: "2030-01-15T15:03:00Z" },
    ]);
  });

  it("is idempotent: a repeated start returns the same past meeting unchanged", async () => {
    const meeting = await kit.createMeeting();
    const body = { meeting_uid: meeting.uid, started_at: "2030-01-15T15:00:00Z" };
    const first = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", body);
    const again = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      ...body,
      started_at: "2030-01-15T15:01:00Z",
    });
    expect(again).toEqual(first);
  });

  it("makes one past meeting with one session of 10 simultaneous starts on two instances", async () => {
    const meeting = await kit.createMeeting();
    const emails = Array.from({ length: 5 }, () => uniqueEmail("invitee"));
    for (const email of emails) {
      await ok(harness.client, "lfx.registrants.create", { meeting_uid: meeting.uid, email });
    }
    const replies = await Promise.all(
      Array.from({ length: 10 }, () =>
        kit.start({ meeting_uid: meeting.uid, started_at: "2030-01-15T15:00:00Z" }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    const uids = new Set(replies.map((r) => r.body.uid));
    expect(uids.size).toBe(1);
    const stored = await kit.getPastMeeting([...uids][0]!);
    expect(stored.sessions).toHaveLength(1);
    const listed = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      meeting_uid: meeting.uid,
    });
    expect(listed.map((p) => p.uid)).toEqual([...uids]);
    const invited = await kit.listAll<Participant>("lfx.participants.list", {
      past_meeting_uid: stored.uid,
    });
    expect(invited.map((p) => p.email).sort()).toEqual(emails.sort());
  });

  it("picks the occurrence whose scheduled start is nearest to started_at", async () => {
    const meeting = await kit.createDailyMeeting();
    // 2030-01-17 15:00 is occurrence 2; 02:59 the next morning is still nearer to it than to 3.
    const cases: [string, number][] = [
      ["2030-01-17T14:50:00Z", 2],
      ["2030-01-18T02:59:00Z", 2],
      ["2030-01-18T03:01:00Z", 3],
      ["2030-01-01T00:00:00Z", 0],
      ["2031-01-01T00:00:00Z", 9],
    ];
    for (const [startedAt, k] of cases) {
      const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
        meeting_uid: meeting.uid,
        started_at: startedAt,
      });
      expect({ startedAt, occurrence: pastMeeting.occurrence_id }).toEqual({
        startedAt,
        occurrence: dailyOccurrenceId(k),
      });
      expect(Date.parse(pastMeeting.scheduled_start_time)).toBe(
        Date.parse(dailyOccurrenceStart(k)),
      );
      expect(
        Date.parse(pastMeeting.scheduled_end_time) - Date.parse(pastMeeting.scheduled_start_time),
      ).toBe(45 * 60_000);
    }
    const listed = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      meeting_uid: meeting.uid,
    });
    expect(listed).toHaveLength(4);
  });

  it("uses the occurrence_id given, and 404s one that is not an occurrence", async () => {
    const meeting = await kit.createDailyMeeting();
    const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(5),
      started_at: "2030-01-15T15:00:00Z",
    });
    expect(pastMeeting.occurrence_id).toBe(dailyOccurrenceId(5));
    const notOne = await kit.start({
      meeting_uid: meeting.uid,
      occurrence_id: String(Number(dailyOccurrenceId(5)) + 60),
      started_at: "2030-01-15T15:00:00Z",
    });
    expect(notOne.status).toBe(404);
    const pastTheEnd = await kit.start({
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(10),
      started_at: "2030-01-15T15:00:00Z",
    });
    expect(pastTheEnd.status).toBe(404);
  });

  it("is a 404 for a meeting that does not exist, and a 400 without started_at", async () => {
    expect(
      (await kit.start({ meeting_uid: "nope", started_at: "2030-01-15T15:00:00Z" })).status,
    ).toBe(404);
    const bad = await kit.start({ meeting_uid: "nope", started: "x" });
    expect(bad.status).toBe(400);
    expect(errorPaths(bad)).toEqual(expect.arrayContaining(["/started_at", "/started"]));
  });

  it("converts a started_at with an offset to UTC", async () => {
    const meeting = await kit.createMeeting();
    const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      started_at: "2030-01-15T10:01:00-05:00",
    });
    expect(pastMeeting.sessions[0]?.start_time).toBe("2030-01-15T15:01:00Z");
  });

  it("creates an invited participant for each registrant of that occurrence", async () => {
    const meeting = await kit.createDailyMeeting();
    const forAll = uniqueEmail("all");
    const forThis = uniqueEmail("this");
    const forOther = uniqueEmail("other");
    await ok(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: forAll,
      first_name: "Ada",
      last_name: "Lovelace",
      host: true,
      job_title: "Engineer",
      org_name: "Analytical",
      org_is_member: true,
      avatar_url: "https://example.org/ada.png",
      linkedin_profile: "https://linkedin.com/in/ada",
      username: "ada",
    });
    await ok(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: forThis,
      occurrence_id: dailyOccurrenceId(1),
    });
    await ok(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: forOther,
      occurrence_id: dailyOccurrenceId(2),
    });
    const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(1),
      started_at: dailyOccurrenceStart(1),
    });
    const participants = await kit.listAll<Participant>("lfx.participants.list", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(participants.map((p) => p.email).sort()).toEqual([forAll, forThis].sort());
    for (const participant of participants) {
      await expectEntity("participant", participant);
      expect(participant).toMatchObject({
        past_meeting_uid: pastMeeting.uid,
        meeting_uid: meeting.uid,
        is_invited: true,
        is_attended: false,
        sessions: [],
      });
    }
    expect(participants.find((p) => p.email === forAll)).toMatchObject({
      first_name: "Ada",
      last_name: "Lovelace",
      host: true,
      job_title: "Engineer",
      org_name: "Analytical",
      org_is_member: true,
      avatar_url: "https://example.org/ada.png",
      linkedin_profile: "https://linkedin.com/in/ada",
      username: "ada",
    });

    // A repeated start invites nobody twice.
    await ok(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(1),
      started_at: dailyOccurrenceStart(1),
    });
    const again = await kit.listAll<Participant>("lfx.participants.list", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(again).toHaveLength(2);
  });
});

describe("lfx.past-meetings.end", () => {
  it("closes the open session; a start after it opens a second one", async () => {
    const { meeting, pastMeeting } = await kit.startedPastMeeting();
    const ended = await ok<PastMeeting>(harness.client, "lfx.past-meetings.end", {
      past_meeting_uid: pastMeeting.uid,
      ended_at: "2030-01-15T15:40:00Z",
    });
    expect(ended.sessions).toEqual([
      {
        uid: pastMeeting.sessions[0]?.uid,
        start_time: "2030-01-15T15:02:00Z",
        end_time: "2030-01-15T15:40:00Z",
      },
    ]);
    // Nothing open: unchanged.
    const endedAgain = await ok<PastMeeting>(harness.client, "lfx.past-meetings.end", {
      past_meeting_uid: pastMeeting.uid,
      ended_at: "2030-01-15T15:45:00Z",
    });
    expect(endedAgain).toEqual(ended);

    const restarted = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      started_at: "2030-01-15T15:50:00Z",
    });
    expect(restarted.uid).toBe(pastMeeting.uid);
    expect(restarted.sessions).toHaveLength(2);
    expect(restarted.sessions[1]).toEqual({
      uid: expect.any(String) as string,
      start_time: "2030-01-15T15:50:00Z",
    });
    expect(restarted.sessions[1]?.uid).not.toBe(restarted.sessions[0]?.uid);
    await expectEntity("past-meeting", restarted);
  });

  it("refuses an end before the session's start, and 404s an unknown past meeting", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const early = await request<ErrorBody>(harness.client, "lfx.past-meetings.end", {
      past_meeting_uid: pastMeeting.uid,
      ended_at: "2030-01-15T14:00:00Z",
    });
    expect(early.status).toBe(400);
    expect(errorPaths(early)).toEqual(["/ended_at"]);
    const missing = await request(harness.client, "lfx.past-meetings.end", {
      past_meeting_uid: "nope",
      ended_at: "2030-01-15T14:00:00Z",
    });
    expect(missing.status).toBe(404);
  });
});

describe("lfx.past-meetings.create", () => {
  const times = {
    scheduled_start_time: "2030-01-15T15:00:00Z",
    scheduled_end_time: "2030-01-15T16:00:00Z",
  };

  it("copies what it is not given from the meeting", async () => {
    const meeting = await kit.createMeeting({ description: "from the meeting" });
    const reply = await createPastMeeting({
      meeting_uid: meeting.uid,
      ...times,
      title: "Given title",
      platform_meeting_id: "123",
    });
    expect(reply.status).toBe(200);
    await expectEntity("past-meeting", reply.body);
    expect(reply.body).toMatchObject({
      meeting_uid: meeting.uid,
      project_uid: meeting.project_uid,
      title: "Given title",
      description: "from the meeting",
      platform_meeting_id: "123",
      sessions: [],
      ...times,
    });
    expect(reply.body).not.toHaveProperty("occurrence_id");
  });

  it("rejects bad bodies, reporting every violation", async () => {
    const missing = await createPastMeeting({ meeting_uid: "m", total: 1, recording_uids: [] });
    expect(missing.status).toBe(400);
    expect(errorPaths(missing)).toEqual(
      expect.arrayContaining([
        "/scheduled_start_time",
        "/scheduled_end_time",
        "/total",
        "/recording_uids",
      ]),
    );
    const meeting = await kit.createMeeting();
    const backwards = await createPastMeeting({
      meeting_uid: meeting.uid,
      scheduled_start_time: "2030-01-15T16:00:00Z",
      scheduled_end_time: "2030-01-15T15:00:00Z",
    });
    expect(backwards.status).toBe(400);
    expect(errorPaths(backwards)).toEqual(["/scheduled_end_time"]);
  });

  it("is a 404 for an unknown meeting or an id that is not an occurrence", async () => {
    expect((await createPastMeeting({ meeting_uid: "nope", ...times })).status).toBe(404);
    const meeting = await kit.createDailyMeeting();
    const notOne = await createPastMeeting({
      meeting_uid: meeting.uid,
      occurrence_id: "12345",
      ...times,
    });
    expect(notOne.status).toBe(404);
  });

  it("takes the occurrence's slot: a second past meeting of it, or a start's, is a 409", async () => {
    const meeting = await kit.createDailyMeeting();
    const body = { meeting_uid: meeting.uid, occurrence_id: dailyOccurrenceId(3), ...times };
    const first = await createPastMeeting(body);
    expect(first.status).toBe(200);
    expect((await createPastMeeting(body)).status).toBe(409);
    // A start of that occurrence finds it.
    const started = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(3),
      started_at: dailyOccurrenceStart(3),
    });
    expect(started.uid).toBe(first.body.uid);
    expect(started.sessions).toHaveLength(1);
    // After a delete the slot is free again.
    await ok(harness.client, "lfx.past-meetings.delete", {
      uid: started.uid,
      revision: started.revision,
    });
    expect((await createPastMeeting(body)).status).toBe(200);
  });

  it("honours Idempotency-Key", async () => {
    const meeting = await kit.createMeeting();
    const key = `pm-${Date.now()}`;
    const body = { meeting_uid: meeting.uid, ...times };
    const first = await createPastMeeting(body, { "Idempotency-Key": key });
    const again = await createPastMeeting(body, { "Idempotency-Key": key });
    expect(first.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const listed = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      meeting_uid: meeting.uid,
    });
    expect(listed).toHaveLength(1);
  });
});

describe("lfx.past-meetings.get / update / delete", () => {
  it("get is a 404 for an unknown uid", async () => {
    expect((await request(harness.client, "lfx.past-meetings.get", { uid: "nope" })).status).toBe(
      404,
    );
  });

  it("updates at a revision: merge patch, 409 stale, retried update, fixed fields", async () => {
    const { meeting, pastMeeting } = await kit.startedPastMeeting({
      zoom_config: { meeting_id: "1", passcode: "secret" },
    });
    const updated = await ok<PastMeeting>(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: pastMeeting.revision,
      title: "Renamed",
      zoom_config: { passcode: null },
      platform_meeting_id: null,
    });
    expect(updated.title).toBe("Renamed");
    expect(updated["zoom_config"]).toEqual({ meeting_id: "1" });
    expect(updated).not.toHaveProperty("platform_meeting_id");
    expect(updated.sessions).toEqual(pastMeeting.sessions);
    await expectEntity("past-meeting", updated);

    const retried = await ok<PastMeeting>(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: pastMeeting.revision,
      title: "Renamed",
      zoom_config: { passcode: null },
      platform_meeting_id: null,
    });
    expect(retried).toEqual(updated);
    const stale = await request(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: pastMeeting.revision,
      title: "Other",
    });
    expect(stale.status).toBe(409);

    const other = await kit.createMeeting();
    const move = await request(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: updated.revision,
      meeting_uid: other.uid,
    });
    expect(move.status).toBe(400);
    expect(errorPaths(move)).toEqual(["/meeting_uid"]);
    const same = await request(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: updated.revision,
      meeting_uid: meeting.uid,
    });
    expect(same.status).toBe(200);
    const clearRequired = await request(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: updated.revision,
      title: null,
      sessions: [],
    });
    expect(clearRequired.status).toBe(400);
    expect(errorPaths(clearRequired)).toEqual(expect.arrayContaining(["/title", "/sessions"]));
    const missing = await request(harness.client, "lfx.past-meetings.update", {
      uid: "nope",
      revision: 1,
      title: "x",
    });
    expect(missing.status).toBe(404);
  });

  it("moves the project index when project_uid changes", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const project = "0f8b3c1e-8f7d-4a3b-9c2d-1e2f3a4b5c6d";
    const updated = await ok<PastMeeting>(harness.client, "lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: pastMeeting.revision,
      project_uid: project,
    });
    const byNew = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      project_uid: project,
    });
    expect(byNew.map((p) => p.uid)).toContain(updated.uid);
    const byOld = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      project_uid: pastMeeting.project_uid,
    });
    expect(byOld.map((p) => p.uid)).not.toContain(updated.uid);
  });

  it("delete is a 409 on a stale revision and takes participants and artifacts along", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const participant = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email: uniqueEmail(),
      joined_at: "2030-01-15T15:05:00Z",
    });
    const recording = await ok<{ uid: string }>(harness.client, "lfx.recordings.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    const summary = await ok<{ uid: string }>(harness.client, "lfx.summaries.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    const stale = await request(harness.client, "lfx.past-meetings.delete", {
      uid: pastMeeting.uid,
      revision: pastMeeting.revision,
    });
    expect(stale.status).toBe(409);
    const current = await kit.getPastMeeting(pastMeeting.uid);
    const deleted = await ok(harness.client, "lfx.past-meetings.delete", {
      uid: pastMeeting.uid,
      revision: current.revision,
    });
    expect(deleted).toEqual({ uid: pastMeeting.uid, deleted: true });
    expect(
      (await request(harness.client, "lfx.past-meetings.get", { uid: pastMeeting.uid })).status,
    ).toBe(404);
    expect(
      (await request(harness.client, "lfx.participants.get", { uid: participant.uid })).status,
    ).toBe(404);
    expect(
      (await request(harness.client, "lfx.recordings.get", { uid: recording.uid })).status,
    ).toBe(404);
    expect((await request(harness.client, "lfx.summaries.get", { uid: summary.uid })).status).toBe(
      404,
    );
    expect(
      await kit.listAll("lfx.participants.list", { past_meeting_uid: pastMeeting.uid }),
    ).toHaveLength(0);
  });
});

describe("lfx.past-meetings.list", () => {
  it("filters by meeting, project and scheduled start in [from, to), and lists everything", async () => {
    const meeting = await kit.createDailyMeeting();
    const started: PastMeeting[] = [];
    for (const k of [0, 1, 2, 3]) {
      started.push(
        await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
          meeting_uid: meeting.uid,
          occurrence_id: dailyOccurrenceId(k),
          started_at: dailyOccurrenceStart(k),
        }),
      );
    }
    const byMeeting = await kit.listAll<PastMeeting>(
      "lfx.past-meetings.list",
      {
        meeting_uid: meeting.uid,
      },
      3,
    );
    expect(byMeeting.map((p) => p.uid).sort()).toEqual(started.map((p) => p.uid).sort());
    const byProject = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      project_uid: meeting.project_uid,
    });
    expect(byProject).toHaveLength(4);
    const window = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      meeting_uid: meeting.uid,
      from: dailyOccurrenceStart(1),
      to: dailyOccurrenceStart(3),
    });
    expect(window.map((p) => p.occurrence_id).sort()).toEqual(
      [dailyOccurrenceId(1), dailyOccurrenceId(2)].sort(),
    );
    const everything = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {}, 50);
    expect(everything.map((p) => p.uid)).toEqual(expect.arrayContaining(started.map((p) => p.uid)));
    expect(new Set(everything.map((p) => p.uid)).size).toBe(everything.length);
    for (const item of everything) await expectEntity("past-meeting", item);
  });

  it("rejects a cursor of another list", async () => {
    const meeting = await kit.createDailyMeeting();
    for (const k of [0, 1]) {
      await ok(harness.client, "lfx.past-meetings.start", {
        meeting_uid: meeting.uid,
        occurrence_id: dailyOccurrenceId(k),
        started_at: dailyOccurrenceStart(k),
      });
    }
    const page = await ok<{ next_cursor: string | null }>(
      harness.client,
      "lfx.past-meetings.list",
      {
        meeting_uid: meeting.uid,
        limit: 1,
      },
    );
    expect(page.next_cursor).not.toBeNull();
    const other = await request(harness.client, "lfx.past-meetings.list", {
      project_uid: meeting.project_uid,
      cursor: page.next_cursor,
    });
    expect(other.status).toBe(400);
  });
});

describe("storage layout (docs/CONTRACT.md §6, docs/LIFECYCLE.md)", () => {
  async function logicalKeys(bucket: string): Promise<string[]> {
    const kv = await new Kvm(harness.client).open(bucket);
    const keys: string[] = [];
    for await (const key of await kv.keys()) {
      expect(key).toMatch(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/);
      keys.push(key.includes(".") ? decodeKey(key).join("/") : key);
    }
    return keys;
  }

  it("keeps entities under their uid, and encoded index keys and claims", async () => {
    const meeting = await kit.createMeeting();
    const email = "Zoë+Layout@Example.org";
    await ok(harness.client, "lfx.registrants.create", { meeting_uid: meeting.uid, email });
    const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      started_at: "2030-01-15T15:00:00Z",
    });
    const [participant] = await kit.listAll<Participant>("lfx.participants.list", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(await logicalKeys("past-meetings")).toEqual(
      expect.arrayContaining([
        pastMeeting.uid,
        `index/meeting/${meeting.uid}/${pastMeeting.uid}`,
        `index/project/${meeting.project_uid}/${pastMeeting.uid}`,
        `unique/start/${meeting.uid}/${pastMeeting.occurrence_id}`,
      ]),
    );
    expect(await logicalKeys("past-meeting-participants")).toEqual(
      expect.arrayContaining([
        participant!.uid,
        `index/past-meeting/${pastMeeting.uid}/${participant!.uid}`,
        `unique/past-meeting-email/${pastMeeting.uid}/${email.toLowerCase()}`,
      ]),
    );
    const kv = await new Kvm(harness.client).open("past-meetings");
    const stored = (await kv.get(pastMeeting.uid))?.json<Record<string, unknown>>();
    expect(stored).toMatchObject({ uid: pastMeeting.uid, meeting_uid: meeting.uid });
    expect(stored).not.toHaveProperty("revision");
  });
});

describe("history stays", () => {
  it("deleting the meeting leaves its past meetings, participants and artifacts readable", async () => {
    const { meeting, pastMeeting } = await kit.startedPastMeeting();
    const participant = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email: uniqueEmail(),
      joined_at: "2030-01-15T15:05:00Z",
    });
    const transcript = await ok<{ uid: string }>(harness.client, "lfx.transcripts.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    const current = await ok<{ revision: number }>(harness.client, "lfx.meetings.get", {
      uid: meeting.uid,
    });
    await ok(harness.client, "lfx.meetings.delete", {
      uid: meeting.uid,
      revision: current.revision,
    });

    const kept = await kit.getPastMeeting(pastMeeting.uid);
    expect(kept.transcript_uids).toEqual([transcript.uid]);
    await ok(harness.client, "lfx.participants.get", { uid: participant.uid });
    await ok(harness.client, "lfx.transcripts.get", { uid: transcript.uid });
    const listed = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      meeting_uid: meeting.uid,
    });
    expect(listed.map((p) => p.uid)).toEqual([pastMeeting.uid]);
    // A summary of a past meeting whose meeting is gone needs no approval.
    const summary = await ok<{ requires_approval: boolean; approved: boolean }>(
      harness.client,
      "lfx.summaries.create",
      { past_meeting_uid: pastMeeting.uid },
    );
    expect(summary).toMatchObject({ requires_approval: false, approved: true });
    // A start of the deleted meeting is a 404.
    expect(
      (await kit.start({ meeting_uid: meeting.uid, started_at: "2030-01-15T15:00:00Z" })).status,
    ).toBe(404);
  });
});
