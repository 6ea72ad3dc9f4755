// lfx.recordings.*, lfx.transcripts.*, lfx.summaries.* (docs/CONTRACT.md §4 "Lifecycle rules", §5
// "recording", "transcript", "summary") over NATS, two instances, and their events (§7).
import { useServiceHarness } from "../support/harness.js";
import { ok, request } from "../support/request.js";
import { until } from "../support/until.js";
import {
  errorPaths,
  expectEntity,
  lifecycleClient,
  type Entity,
} from "../support/lifecycle-kit.js";

interface Recording extends Entity {
  past_meeting_uid: string;
  total_size: number;
  recording_count: number;
  recording_files: Record<string, unknown>[];
  sessions: Record<string, unknown>[];
}
interface Transcript extends Entity {
  total_size: number;
  transcript_count: number;
  transcript_files: Record<string, unknown>[];
}
interface Summary extends Entity {
  past_meeting_uid: string;
  meeting_uid: string;
  requires_approval: boolean;
  approved: boolean;
  email_sent: boolean;
  summary_data?: Record<string, unknown>;
}
interface ChangeEvent {
  resource: string;
  action: string;
  uid: string;
  revision: number;
  data: Record<string, unknown> | null;
}

const harness = useServiceHarness(2);
const kit = lifecycleClient(() => harness.client);
const received: { subject: string; event: ChangeEvent }[] = [];

// Runs after the harness has connected; closing the client ends the subscription.
beforeAll(async () => {
  harness.client.subscribe("lfx.events.>", {
    callback: (err, msg) => {
      if (err === null) received.push({ subject: msg.subject, event: msg.json<ChangeEvent>() });
    },
  });
  await harness.client.flush();
});

const file = (id: string, size?: number) => ({
  id,
  file_type: "MP4",
  recording_type: "shared_screen_with_speaker_view",
  play_url: `https://zoom.example/play/${id}`,
  download_url: `https://zoom.example/download/${id}`,
  recording_start: "2030-01-15T15:00:00Z",
  recording_end: "2030-01-15T16:00:00Z",
  status: "completed",
  ...(size === undefined ? {} : { file_size: size }),
});

describe("recordings", () => {
  it("computes total_size and recording_count, and links the uid to the past meeting", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const reply = await request<Recording>(harness.client, "lfx.recordings.create", {
      past_meeting_uid: pastMeeting.uid,
      platform: "Zoom",
      platform_meeting_id: "123",
      platform_meeting_instance_id: "abc==",
      recording_files: [file("a", 1000), file("b", 234), file("c")],
      sessions: [{ uuid: "abc==", total_size: 1234, start_time: "2030-01-15T15:00:00Z" }],
    });
    expect(reply.status).toBe(200);
    await expectEntity("recording", reply.body);
    expect(reply.body).toMatchObject({ total_size: 1234, recording_count: 3 });
    expect((await kit.getPastMeeting(pastMeeting.uid)).recording_uids).toEqual([reply.body.uid]);

    const updated = await ok<Recording>(harness.client, "lfx.recordings.update", {
      uid: reply.body.uid,
      revision: reply.body.revision,
      recording_files: [file("d", 50)],
      platform_meeting_id: null,
    });
    expect(updated).toMatchObject({ total_size: 50, recording_count: 1 });
    expect(updated).not.toHaveProperty("platform_meeting_id");
    await expectEntity("recording", updated);
  });

  it("starts empty without files", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await ok<Recording>(harness.client, "lfx.recordings.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(created).toMatchObject({
      total_size: 0,
      recording_count: 0,
      recording_files: [],
      sessions: [],
    });
  });

  it("adds exactly 10 uids for 10 simultaneous creates on two instances; delete removes one", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        ok<Recording>(harness.client, "lfx.recordings.create", {
          past_meeting_uid: pastMeeting.uid,
          recording_files: [file(`f${i}`, i)],
        }),
      ),
    );
    const linked = await kit.getPastMeeting(pastMeeting.uid);
    expect([...linked.recording_uids].sort()).toEqual(created.map((r) => r.uid).sort());
    const listed = await kit.listAll<Recording>("lfx.recordings.list", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(listed.map((r) => r.uid).sort()).toEqual(created.map((r) => r.uid).sort());

    const [first, second] = created;
    await Promise.all(
      [first!, second!].map((r) =>
        ok(harness.client, "lfx.recordings.delete", { uid: r.uid, revision: r.revision }),
      ),
    );
    const after = await kit.getPastMeeting(pastMeeting.uid);
    expect(after.recording_uids).toHaveLength(8);
    expect(after.recording_uids).not.toContain(first!.uid);
    expect(after.recording_uids).not.toContain(second!.uid);
  });

  it("rejects unknown and server-set fields, a missing past meeting, stale revisions", async () => {
    const bad = await request(harness.client, "lfx.recordings.create", {
      past_meeting_uid: "nope",
      total_size: 5,
      recording_count: 1,
      recording_files: [{ file_size: -1, extra: true }],
    });
    expect(bad.status).toBe(400);
    expect(errorPaths(bad)).toEqual(
      expect.arrayContaining([
        "/total_size",
        "/recording_count",
        "/recording_files/0/file_size",
        "/recording_files/0/extra",
      ]),
    );
    const missing = await request(harness.client, "lfx.recordings.create", {
      past_meeting_uid: "nope",
    });
    expect(missing.status).toBe(404);
    expect((await request(harness.client, "lfx.recordings.get", { uid: "nope" })).status).toBe(404);

    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await ok<Recording>(harness.client, "lfx.recordings.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    const updated = await ok<{ revision: number }>(harness.client, "lfx.recordings.update", {
      uid: created.uid,
      revision: created.revision,
      platform: "Zoom",
    });
    const stale = await request(harness.client, "lfx.recordings.update", {
      uid: created.uid,
      revision: created.revision,
      platform_meeting_id: "x",
    });
    expect(stale.status).toBe(409);
    const staleDelete = await request(harness.client, "lfx.recordings.delete", {
      uid: created.uid,
      revision: created.revision,
    });
    expect(staleDelete.status).toBe(409);
    const move = await request(harness.client, "lfx.recordings.update", {
      uid: created.uid,
      revision: updated.revision,
      past_meeting_uid: "elsewhere",
    });
    expect(move.status).toBe(400);
    expect(errorPaths(move)).toEqual(["/past_meeting_uid"]);
  });

  it("honours Idempotency-Key: one recording, one uid on the past meeting", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const body = { past_meeting_uid: pastMeeting.uid, recording_files: [file("x", 7)] };
    const headers = { "Idempotency-Key": `recording-${Date.now()}` };
    const replies = await Promise.all(
      [1, 2, 3].map(() => request(harness.client, "lfx.recordings.create", body, { headers })),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(replies[1]?.body).toEqual(replies[0]?.body);
    expect((await kit.getPastMeeting(pastMeeting.uid)).recording_uids).toHaveLength(1);
  });
});

describe("transcripts", () => {
  it("computes totals from transcript_files and keeps transcript_uids exact", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await Promise.all(
      Array.from({ length: 5 }, () =>
        ok<Transcript>(harness.client, "lfx.transcripts.create", {
          past_meeting_uid: pastMeeting.uid,
          transcript_files: [
            { id: "t", file_type: "TRANSCRIPT", file_size: 10 },
            { id: "c", file_type: "CC", file_size: 5 },
          ],
        }),
      ),
    );
    for (const transcript of created) {
      await expectEntity("transcript", transcript);
      expect(transcript).toMatchObject({ total_size: 15, transcript_count: 2 });
    }
    const pastMeeting2 = await kit.getPastMeeting(pastMeeting.uid);
    expect([...pastMeeting2.transcript_uids].sort()).toEqual(created.map((t) => t.uid).sort());
    expect(pastMeeting2.recording_uids).toEqual([]);
    const recordingFields = await request(harness.client, "lfx.transcripts.create", {
      past_meeting_uid: pastMeeting.uid,
      recording_files: [],
    });
    expect(recordingFields.status).toBe(400);
    const [first] = created;
    await ok(harness.client, "lfx.transcripts.delete", {
      uid: first!.uid,
      revision: first!.revision,
    });
    expect((await kit.getPastMeeting(pastMeeting.uid)).transcript_uids).not.toContain(first!.uid);
  });
});

describe("summaries", () => {
  it("requires approval when the meeting says so; approve sets approved", async () => {
    const { meeting, pastMeeting } = await kit.startedPastMeeting({
      zoom_config: { ai_summary_require_approval: true },
    });
    const created = await ok<Summary>(harness.client, "lfx.summaries.create", {
      past_meeting_uid: pastMeeting.uid,
      platform: "Zoom",
      zoom_config: { meeting_id: "1", meeting_uuid: "u==" },
      summary_data: { title: "Summary", content: "Original" },
    });
    await expectEntity("summary", created);
    expect(created).toMatchObject({
      past_meeting_uid: pastMeeting.uid,
      meeting_uid: meeting.uid,
      requires_approval: true,
      approved: false,
      email_sent: false,
    });
    expect((await kit.getPastMeeting(pastMeeting.uid)).summary_uids).toEqual([created.uid]);

    const approved = await ok<Summary>(harness.client, "lfx.summaries.approve", {
      uid: created.uid,
      revision: created.revision,
    });
    expect(approved).toMatchObject({ approved: true, requires_approval: true });
    expect(approved.revision).toBeGreaterThan(created.revision);
    // A retried approve gets the approved summary; another stale change is a 409.
    expect(
      await ok(harness.client, "lfx.summaries.approve", {
        uid: created.uid,
        revision: created.revision,
      }),
    ).toEqual(approved);
    const stale = await request(harness.client, "lfx.summaries.update", {
      uid: created.uid,
      revision: created.revision,
      email_sent: true,
    });
    expect(stale.status).toBe(409);
    const serverSet = await request(harness.client, "lfx.summaries.update", {
      uid: created.uid,
      revision: approved.revision,
      approved: false,
      requires_approval: false,
    });
    expect(serverSet.status).toBe(400);
    expect(errorPaths(serverSet)).toEqual(
      expect.arrayContaining(["/approved", "/requires_approval"]),
    );
    expect(
      (await request(harness.client, "lfx.summaries.approve", { uid: "nope", revision: 1 })).status,
    ).toBe(404);
  });

  it("approve is a 409 on a stale revision", async () => {
    const { pastMeeting } = await kit.startedPastMeeting({
      zoom_config: { ai_summary_require_approval: true },
    });
    const created = await ok<Summary>(harness.client, "lfx.summaries.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    const edited = await ok<Summary>(harness.client, "lfx.summaries.update", {
      uid: created.uid,
      revision: created.revision,
      email_sent: true,
    });
    const stale = await request(harness.client, "lfx.summaries.approve", {
      uid: created.uid,
      revision: created.revision,
    });
    expect(stale.status).toBe(409);
    const fresh = await ok<Summary>(harness.client, "lfx.summaries.approve", {
      uid: created.uid,
      revision: edited.revision,
    });
    expect(fresh.approved).toBe(true);
  });

  it("needs no approval when the meeting does not ask for it", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await ok<Summary>(harness.client, "lfx.summaries.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(created).toMatchObject({ requires_approval: false, approved: true });
  });

  it("an edit of edited_content keeps content", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await ok<Summary>(harness.client, "lfx.summaries.create", {
      past_meeting_uid: pastMeeting.uid,
      summary_data: {
        title: "Summary",
        content: "What the AI wrote",
        doc_url: "https://docs.example/1",
      },
    });
    const edited = await ok<Summary>(harness.client, "lfx.summaries.update", {
      uid: created.uid,
      revision: created.revision,
      summary_data: { edited_content: "What a person wrote", doc_url: null },
    });
    expect(edited.summary_data).toEqual({
      title: "Summary",
      content: "What the AI wrote",
      edited_content: "What a person wrote",
    });
    await expectEntity("summary", edited);
    const listed = await kit.listAll<Summary>("lfx.summaries.list", {
      past_meeting_uid: pastMeeting.uid,
    });
    expect(listed).toEqual([edited]);
  });

  it("delete removes the uid from summary_uids", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await ok<Summary>(harness.client, "lfx.summaries.create", {
      past_meeting_uid: pastMeeting.uid,
    });
    await ok(harness.client, "lfx.summaries.delete", {
      uid: created.uid,
      revision: created.revision,
    });
    expect((await kit.getPastMeeting(pastMeeting.uid)).summary_uids).toEqual([]);
    expect((await request(harness.client, "lfx.summaries.get", { uid: created.uid })).status).toBe(
      404,
    );
  });
});

describe("events", () => {
  const eventsOf = (uid: string) => received.filter((r) => r.event.uid === uid);

  it("announces recordings created, updated and deleted, and the past meeting's changes", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const created = await ok<Recording>(harness.client, "lfx.recordings.create", {
      past_meeting_uid: pastMeeting.uid,
      recording_files: [file("a", 3)],
    });
    const updated = await ok<Recording>(harness.client, "lfx.recordings.update", {
      uid: created.uid,
      revision: created.revision,
      recording_files: [],
    });
    await ok(harness.client, "lfx.recordings.delete", {
      uid: created.uid,
      revision: updated.revision,
    });
    await until(() => eventsOf(created.uid).some((r) => r.event.action === "deleted"), {
      message: "recording deleted event",
    });
    const recordingEvents = eventsOf(created.uid);
    expect(recordingEvents.map((r) => r.subject)).toEqual([
      "lfx.events.recordings.created",
      "lfx.events.recordings.updated",
      "lfx.events.recordings.deleted",
    ]);
    expect(recordingEvents[0]?.event).toMatchObject({
      resource: "recordings",
      revision: created.revision,
      data: { uid: created.uid, total_size: 3, recording_count: 1 },
    });
    expect(recordingEvents[1]?.event.revision).toBe(updated.revision);
    expect(recordingEvents[2]?.event.data).toBeNull();

    const pastMeetingEvents = await until(
      () => {
        const found = eventsOf(pastMeeting.uid);
        return found.length >= 3 ? found : undefined;
      },
      { message: "past meeting events" },
    );
    expect(pastMeetingEvents.map((r) => r.subject)).toEqual([
      "lfx.events.past-meetings.created",
      "lfx.events.past-meetings.updated",
      "lfx.events.past-meetings.updated",
    ]);
    expect(pastMeetingEvents[1]?.event.data?.["recording_uids"]).toEqual([created.uid]);
    expect(pastMeetingEvents[2]?.event.data?.["recording_uids"]).toEqual([]);
  });

  it("announces a join as participants created, a leave as updated", async () => {
    const { pastMeeting } = await kit.startedPastMeeting();
    const email = `events-${Date.now()}@example.org`;
    const joined = await ok<Entity>(harness.client, "lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email,
      joined_at: "2030-01-15T15:05:00Z",
    });
    const left = await ok<Entity>(harness.client, "lfx.participants.leave", {
      past_meeting_uid: pastMeeting.uid,
      email,
      left_at: "2030-01-15T15:06:00Z",
    });
    await until(() => eventsOf(joined.uid).length >= 2, { message: "participant events" });
    expect(eventsOf(joined.uid).map((r) => [r.subject, r.event.revision])).toEqual([
      ["lfx.events.participants.created", joined.revision],
      ["lfx.events.participants.updated", left.revision],
    ]);
  });
});
