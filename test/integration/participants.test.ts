// lfx.participants.* (docs/CONTRACT.md §4 "Lifecycle rules", §5 "participant") over NATS, two
// instances.
import { uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { ok, request } from "../support/request.js";
import {
  dailyOccurrenceId,
  dailyOccurrenceStart,
  errorPaths,
  expectEntity,
  lifecycleClient,
  type Participant,
  type PastMeeting,
} from "../support/lifecycle-kit.js";

const harness = useServiceHarness(2);
const kit = lifecycleClient(() => harness.client);

const join = (body: Record<string, unknown>) =>
  request<Participant>(harness.client, "lfx.participants.join", body);
const leave = (body: Record<string, unknown>) =>
  request<Participant>(harness.client, "lfx.participants.leave", body);
const participantsOf = (pastMeetingUid: string) =>
  kit.listAll<Participant>("lfx.participants.list", { past_meeting_uid: pastMeetingUid }, 3);

describe("lfx.participants.join / leave", () => {
  it("adds a guest who never registered with is_invited false and an open session", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const email = uniqueEmail("guest");
    const reply = await join({
      past_meeting_uid: pastMeeting.uid,
      email: email.toUpperCase(),
      first_name: "Grace",
      username: "grace",
      joined_at: "2030-01-15T15:05:00Z",
    });
    expect(reply.status).toBe(200);
    await expectEntity("participant", reply.body);
    expect(reply.body).toMatchObject({
      past_meeting_uid: pastMeeting.uid,
      meeting_uid: pastMeeting.meeting_uid,
      email,
      first_name: "Grace",
      username: "grace",
      is_invited: false,
      is_attended: true,
      sessions: [{ uid: expect.any(String) as string, join_time: "2030-01-15T15:05:00Z" }],
    });
  });

  it("finds the invited participant of a registrant, case-insensitively, and marks it attended", async () => {
    const meeting = await kit.createMeeting();
    const email = uniqueEmail("reg");
    await ok(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email,
      first_name: "Ada",
    });
    const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      started_at: "2030-01-15T15:00:00Z",
    });
    const [invited] = await participantsOf(pastMeeting.uid);
    expect(invited).toMatchObject({ email, is_invited: true, is_attended: false });

    const joined = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email: email.toUpperCase(),
      first_name: "Someone else",
      last_name: "Lovelace",
      joined_at: "2030-01-15T15:01:00Z",
    });
    expect(joined.uid).toBe(invited?.uid);
    // Names from the join fill what is missing and never overwrite.
    expect(joined).toMatchObject({
      first_name: "Ada",
      last_name: "Lovelace",
      is_invited: true,
      is_attended: true,
    });
    expect(joined.sessions).toHaveLength(1);
    expect(await participantsOf(pastMeeting.uid)).toHaveLength(1);
  });

  it("invites a registrant who joins without having been created at start", async () => {
    const meeting = await kit.createDailyMeeting();
    const pastMeeting = await ok<PastMeeting>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(0),
      started_at: dailyOccurrenceStart(0),
    });
    const late = uniqueEmail("late");
    const elsewhere = uniqueEmail("elsewhere");
    await ok(harness.client, "lfx.registrants.create", { meeting_uid: meeting.uid, email: late });
    await ok(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: elsewhere,
      occurrence_id: dailyOccurrenceId(4),
    });
    const lateJoin = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email: late,
      joined_at: dailyOccurrenceStart(0),
    });
    expect(lateJoin.is_invited).toBe(true);
    // Registered for another occurrence only: a guest here.
    const otherJoin = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email: elsewhere,
      joined_at: dailyOccurrenceStart(0),
    });
    expect(otherJoin.is_invited).toBe(false);
  });

  it("makes one participant with one session of 10 simultaneous joins on two instances", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const email = uniqueEmail("crowd");
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        join({
          past_meeting_uid: pastMeeting.uid,
          email: i % 2 === 0 ? email : email.toUpperCase(),
          joined_at: "2030-01-15T15:05:00Z",
        }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(replies.map((r) => r.body.uid)).size).toBe(1);
    const listed = await participantsOf(pastMeeting.uid);
    expect(listed).toHaveLength(1);
    expect(listed[0]?.sessions).toHaveLength(1);
  });

  it("leave closes the open session; a join after it opens another", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const email = uniqueEmail();
    const joined = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email,
      joined_at: "2030-01-15T15:05:00Z",
    });
    const left = await ok<Participant>(harness.client, "lfx.participants.leave", {
      past_meeting_uid: pastMeeting.uid,
      email: email.toUpperCase(),
      left_at: "2030-01-15T15:25:00Z",
      leave_reason: "left the meeting",
    });
    expect(left.sessions).toEqual([
      {
        uid: joined.sessions[0]?.uid,
        join_time: "2030-01-15T15:05:00Z",
        leave_time: "2030-01-15T15:25:00Z",
        leave_reason: "left the meeting",
      },
    ]);
    // Nothing open: unchanged.
    const leftAgain = await ok<Participant>(harness.client, "lfx.participants.leave", {
      past_meeting_uid: pastMeeting.uid,
      email,
      left_at: "2030-01-15T15:26:00Z",
    });
    expect(leftAgain).toEqual(left);
    const rejoined = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email,
      joined_at: "2030-01-15T15:30:00Z",
    });
    expect(rejoined.sessions).toHaveLength(2);
    expect(rejoined.sessions[1]).toEqual({
      uid: expect.any(String) as string,
      join_time: "2030-01-15T15:30:00Z",
    });
    await expectEntity("participant", rejoined);
  });

  it("leave is a 404 for an unknown participant and a 400 before the join", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const unknown = await leave({
      past_meeting_uid: pastMeeting.uid,
      email: uniqueEmail(),
      left_at: "2030-01-15T15:25:00Z",
    });
    expect(unknown.status).toBe(404);
    const email = uniqueEmail();
    await ok(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email,
      joined_at: "2030-01-15T15:05:00Z",
    });
    const early = await leave({
      past_meeting_uid: pastMeeting.uid,
      email,
      left_at: "2030-01-15T15:00:00Z",
    });
    expect(early.status).toBe(400);
    expect(errorPaths(early)).toEqual(["/left_at"]);
  });

  it("join is a 404 for an unknown past meeting and a 400 for a bad body", async () => {
    const missing = await join({
      past_meeting_uid: "nope",
      email: uniqueEmail(),
      joined_at: "2030-01-15T15:05:00Z",
    });
    expect(missing.status).toBe(404);
    const bad = await join({ past_meeting_uid: "nope", email: "not an address", is_invited: true });
    expect(bad.status).toBe(400);
    expect(errorPaths(bad)).toEqual(
      expect.arrayContaining(["/email", "/joined_at", "/is_invited"]),
    );
  });
});

describe("participants CRUD", () => {
  it("creates with defaults; the same email again, in any case, is a 409", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const email = uniqueEmail();
    const created = await request<Participant>(harness.client, "lfx.participants.create", {
      past_meeting_uid: pastMeeting.uid,
      email: email.toUpperCase(),
      first_name: "Ada",
    });
    expect(created.status).toBe(200);
    await expectEntity("participant", created.body);
    expect(created.body).toMatchObject({
      email,
      meeting_uid: pastMeeting.meeting_uid,
      is_invited: false,
      is_attended: false,
      sessions: [],
    });
    const again = await request(harness.client, "lfx.participants.create", {
      past_meeting_uid: pastMeeting.uid,
      email,
    });
    expect(again.status).toBe(409);
    // A join finds the created participant.
    const joined = await ok<Participant>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email,
      joined_at: "2030-01-15T15:05:00Z",
    });
    expect(joined.uid).toBe(created.body.uid);
  });

  it("create is a 404 for an unknown past meeting and a 400 for server-set fields", async () => {
    const missing = await request(harness.client, "lfx.participants.create", {
      past_meeting_uid: "nope",
      email: uniqueEmail(),
    });
    expect(missing.status).toBe(404);
    const serverSet = await request(harness.client, "lfx.participants.create", {
      past_meeting_uid: "nope",
      email: uniqueEmail(),
      meeting_uid: "m",
      sessions: [],
    });
    expect(serverSet.status).toBe(400);
    expect(errorPaths(serverSet)).toEqual(expect.arrayContaining(["/meeting_uid", "/sessions"]));
  });

  it("honours Idempotency-Key", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const body = { past_meeting_uid: pastMeeting.uid, email: uniqueEmail() };
    const headers = { "Idempotency-Key": `participant-${Date.now()}` };
    const first = await request(harness.client, "lfx.participants.create", body, { headers });
    const again = await request(harness.client, "lfx.participants.create", body, { headers });
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
  });

  it("updates at a revision: email moves its uniqueness, fixed parent, stale 409, 404", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const oldEmail = uniqueEmail();
    const newEmail = uniqueEmail();
    const created = await ok<Participant>(harness.client, "lfx.participants.create", {
      past_meeting_uid: pastMeeting.uid,
      email: oldEmail,
      first_name: "A",
    });
    const updated = await ok<Participant>(harness.client, "lfx.participants.update", {
      uid: created.uid,
      revision: created.revision,
      email: newEmail.toUpperCase(),
      first_name: null,
      is_attended: true,
    });
    expect(updated).toMatchObject({ email: newEmail, is_attended: true });
    expect(updated).not.toHaveProperty("first_name");
    expect(
      (
        await request(harness.client, "lfx.participants.create", {
          past_meeting_uid: pastMeeting.uid,
          email: newEmail,
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await request(harness.client, "lfx.participants.create", {
          past_meeting_uid: pastMeeting.uid,
          email: oldEmail,
        })
      ).status,
    ).toBe(200);

    const stale = await request(harness.client, "lfx.participants.update", {
      uid: created.uid,
      revision: created.revision,
      last_name: "B",
    });
    expect(stale.status).toBe(409);
    const move = await request(harness.client, "lfx.participants.update", {
      uid: created.uid,
      revision: updated.revision,
      past_meeting_uid: "elsewhere",
    });
    expect(move.status).toBe(400);
    expect(errorPaths(move)).toEqual(["/past_meeting_uid"]);
    const missing = await request(harness.client, "lfx.participants.update", {
      uid: "nope",
      revision: 1,
      last_name: "B",
    });
    expect(missing.status).toBe(404);
  });

  it("deletes at a revision and frees the email", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const email = uniqueEmail();
    const created = await ok<Participant>(harness.client, "lfx.participants.create", {
      past_meeting_uid: pastMeeting.uid,
      email,
    });
    const updated = await ok<Participant>(harness.client, "lfx.participants.update", {
      uid: created.uid,
      revision: created.revision,
      host: true,
    });
    expect(
      (
        await request(harness.client, "lfx.participants.delete", {
          uid: created.uid,
          revision: created.revision,
        })
      ).status,
    ).toBe(409);
    expect(
      await ok(harness.client, "lfx.participants.delete", {
        uid: created.uid,
        revision: updated.revision,
      }),
    ).toEqual({ uid: created.uid, deleted: true });
    expect(
      (await request(harness.client, "lfx.participants.get", { uid: created.uid })).status,
    ).toBe(404);
    expect(await participantsOf(pastMeeting.uid)).toHaveLength(0);
    const leaveGone = await leave({
      past_meeting_uid: pastMeeting.uid,
      email,
      left_at: "2030-01-15T15:25:00Z",
    });
    expect(leaveGone.status).toBe(404);
  });

  it("lists need past_meeting_uid and page through every participant once", async () => {
    expect((await request(harness.client, "lfx.participants.list", {})).status).toBe(400);
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await Promise.all(
      Array.from({ length: 12 }, () =>
        ok<Participant>(harness.client, "lfx.participants.create", {
          past_meeting_uid: pastMeeting.uid,
          email: uniqueEmail(),
        }),
      ),
    );
    const listed = await participantsOf(pastMeeting.uid);
    expect(listed.map((p) => p.uid).sort()).toEqual(created.map((p) => p.uid).sort());
  });
});
