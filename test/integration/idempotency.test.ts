// docs/CONTRACT.md §3 "Retried creates": `Idempotency-Key` on lfx.meetings.create, with one
// instance and with two sharing the queue group.
import { jetstreamManager } from "@nats-io/jetstream";
import { randomUUID } from "node:crypto";
import { meetingInput } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { ok, request, type Reply } from "../support/request.js";
import type { TestInstance } from "../support/service.js";

interface MeetingReply {
  uid: string;
  revision: number;
  project_uid: string;
  title: string;
  created_at: string;
  updated_at: string;
}
interface ErrorReply {
  error: { status: number; code: string; message: string; details?: unknown[] };
}
interface Page {
  items: MeetingReply[];
  next_cursor: string | null;
}

const harness = useServiceHarness(2);

function create(body: unknown, key?: string): Promise<Reply<MeetingReply & ErrorReply>> {
  return request<MeetingReply & ErrorReply>(
    harness.client,
    "lfx.meetings.create",
    body,
    key === undefined ? {} : { headers: { "Idempotency-Key": key } },
  );
}

async function meetingsOf(project: string): Promise<MeetingReply[]> {
  const page = await ok<Page>(harness.client, "lfx.meetings.list", { project_uid: project });
  expect(page.next_cursor).toBeNull();
  return page.items;
}

/** Creates served by an instance so far, from its "request completed" log lines. */
function createsServedBy(instance: TestInstance): number {
  return instance.logLines.filter(
    (line) => line["msg"] === "request completed" && line["subject"] === "lfx.meetings.create",
  ).length;
}

describe("Idempotency-Key on lfx.meetings.create", () => {
  it("answers a repeat with the first reply and creates nothing", async () => {
    const body = meetingInput();
    const key = `retry-${randomUUID()}`;
    const firstReply = await create(body, key);
    expect(firstReply.status).toBe(200);
    const repeat = await create(body, key);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(firstReply.body);
    const meetings = await meetingsOf(body["project_uid"] as string);
    expect(meetings.map((m) => [m.uid, m.revision])).toEqual([
      [firstReply.body.uid, firstReply.body.revision],
    ]);
  });

  it("answers a repeat with the first reply even after the meeting changed", async () => {
    const body = meetingInput();
    const key = `retry-${randomUUID()}`;
    const original = await create(body, key);
    expect(original.status).toBe(200);
    await ok(harness.client, "lfx.meetings.update", {
      uid: original.body.uid,
      revision: original.body.revision,
      title: "renamed",
    });
    const repeat = await create(body, key);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(original.body);
    expect(await meetingsOf(body["project_uid"] as string)).toHaveLength(1);
  });

  it("treats the same body with its properties in another order as the same request", async () => {
    const body = meetingInput();
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const key = `order-${randomUUID()}`;
    const original = await create(body, key);
    const repeat = await create(reordered, key);
    expect([original.status, repeat.status]).toEqual([200, 200]);
    expect(repeat.body).toEqual(original.body);
  });

  it("is a 409 for the same key with another body, which creates nothing", async () => {
    const project = randomUUID();
    const key = `conflict-${randomUUID()}`;
    const original = await create(meetingInput({ project_uid: project }), key);
    expect(original.status).toBe(200);
    const other = await create(meetingInput({ project_uid: project, title: "Other" }), key);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("conflict");
    expect(other.headers["Nats-Service-Error-Code"]).toBe("409");
    expect((await meetingsOf(project)).map((m) => m.uid)).toEqual([original.body.uid]);
  });

  it("gives different keys different meetings", async () => {
    const project = randomUUID();
    const body = meetingInput({ project_uid: project });
    const a = await create(body, `a-${randomUUID()}`);
    const b = await create(body, `b-${randomUUID()}`);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.uid).not.toBe(b.body.uid);
    expect((await meetingsOf(project)).map((m) => m.uid).sort()).toEqual(
      [a.body.uid, b.body.uid].sort(),
    );
  });

  it("leaves creates without a key alone: each one creates", async () => {
    const project = randomUUID();
    const body = meetingInput({ project_uid: project });
    const a = await create(body);
    const b = await create(body);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.uid).not.toBe(b.body.uid);
    expect(await meetingsOf(project)).toHaveLength(2);
  });

  it("accepts a key of 128 visible ASCII characters", async () => {
    const body = meetingInput();
    const key = `~!#$%&'()*+,-./:;<=>?@[]^_\`{|}` + "k".repeat(98);
    expect(key).toHaveLength(128);
    const original = await create(body, key);
    expect(original.status).toBe(200);
    expect((await create(body, key)).body).toEqual(original.body);
    expect(await meetingsOf(body["project_uid"] as string)).toHaveLength(1);
  });

  it.each([
    ["129 characters", "k".repeat(129)],
    ["a space", "two words"],
    ["a tab", "tab\there"],
  ])("rejects a key with %s as a 400 and creates nothing", async (_label, key) => {
    const body = meetingInput();
    const reply = await create(body, key);
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("invalid_request");
    expect(reply.body.error.message).toContain("Idempotency-Key");
    expect(await meetingsOf(body["project_uid"] as string)).toHaveLength(0);
  });

  it("does not burn the key on a request that fails validation", async () => {
    const project = randomUUID();
    const key = `invalid-first-${randomUUID()}`;
    const invalid = await create(meetingInput({ project_uid: project, duration: -5 }), key);
    expect(invalid.status).toBe(400);
    const corrected = await create(meetingInput({ project_uid: project }), key);
    expect(corrected.status).toBe(200);
    // From then on the key belongs to the corrected request.
    const repeat = await create(meetingInput({ project_uid: project }), key);
    expect(repeat.body).toEqual(corrected.body);
    expect((await meetingsOf(project)).map((m) => m.uid)).toEqual([corrected.body.uid]);
  });

  it("keeps keys for 24 h: the records' bucket expires them then", async () => {
    const jsm = await jetstreamManager(harness.client);
    const streams = await jsm.streams.list().next();
    const idempotency = streams.filter((s) => /idempotency/.test(s.config.name));
    expect(idempotency.map((s) => s.config.max_age)).toEqual([24 * 60 * 60 * 1e9]);
  });

  it("ignores the header on endpoints that are not creates", async () => {
    const key = `scoped-${randomUUID()}`;
    const meeting = await create(meetingInput(), key);
    expect(meeting.status).toBe(200);
    // Sent with a get, the header means nothing: two gets with it both read the meeting.
    const get = { uid: meeting.body.uid };
    for (let i = 0; i < 2; i += 1) {
      const reply = await request<MeetingReply>(harness.client, "lfx.meetings.get", get, {
        headers: { "Idempotency-Key": key },
      });
      expect(reply.status).toBe(200);
      expect(reply.body.uid).toBe(meeting.body.uid);
    }
  });

  it("lets 10 concurrent creates with one key create exactly one meeting, on any instance", async () => {
    // Queue groups pick an instance at random: over three rounds of 10, both instances serve
    // some of them (all 30 on one instance has a chance of 2^-29).
    const [first, second] = harness.instances as [TestInstance, TestInstance];
    const servedBefore = [createsServedBy(first), createsServedBy(second)];
    for (let round = 0; round < 3; round += 1) {
      const project = randomUUID();
      const body = meetingInput({ project_uid: project });
      const key = `concurrent-${randomUUID()}`;
      const replies = await Promise.all(Array.from({ length: 10 }, () => create(body, key)));
      expect(replies.map((r) => r.status)).toEqual(Array<number>(10).fill(200));
      const uids = new Set(replies.map((r) => r.body.uid));
      expect(uids.size).toBe(1);
      for (const reply of replies) expect(reply.body).toEqual(replies[0]?.body);
      expect((await meetingsOf(project)).map((m) => m.uid)).toEqual([...uids]);
    }
    const served = [
      createsServedBy(first) - (servedBefore[0] ?? 0),
      createsServedBy(second) - (servedBefore[1] ?? 0),
    ];
    expect(served[0]).toBeGreaterThan(0);
    expect(served[1]).toBeGreaterThan(0);
    expect((served[0] ?? 0) + (served[1] ?? 0)).toBe(30);
  });

  it("lets concurrent creates with one key but different bodies produce one winner and 409s", async () => {
    const project = randomUUID();
    const key = `race-${randomUUID()}`;
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        create(meetingInput({ project_uid: project, title: `variant ${i % 2}` }), key),
      ),
    );
    const succeeded = replies.filter((r) => r.status === 200);
    const conflicts = replies.filter((r) => r.status === 409);
    expect(succeeded.length + conflicts.length).toBe(6);
    // Only the winner's body repeats the first reply; the other variant's three are conflicts.
    expect(succeeded).toHaveLength(3);
    expect(new Set(succeeded.map((r) => r.body.title)).size).toBe(1);
    expect(new Set(succeeded.map((r) => r.body.uid)).size).toBe(1);
    expect((await meetingsOf(project)).map((m) => m.uid)).toEqual([succeeded[0]?.body.uid]);
  });
});
