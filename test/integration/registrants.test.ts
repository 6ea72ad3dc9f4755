import { Kvm } from "@nats-io/kv";
import { decodeKey } from "../../src/store/kv/keys.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { listAllPages, ok, request } from "../support/request.js";
import { useServiceHarness } from "../support/harness.js";

interface Meeting {
  uid: string;
  revision: number;
  registrant_count: number;
}
interface Registrant {
  uid: string;
  revision: number;
  meeting_uid: string;
  email: string;
  type: string;
  first_name?: string;
  committee_uid?: string;
}
interface ErrorBody {
  error: { status: number; code: string; details?: { path: string }[] };
}

const harness = useServiceHarness(2);

const createMeeting = () => ok<Meeting>(harness.client, "lfx.meetings.create", meetingInput());
const register = (meetingUid: string, fields: Record<string, unknown> = {}) =>
  request<Registrant>(harness.client, "lfx.registrants.create", {
    meeting_uid: meetingUid,
    email: uniqueEmail(),
    ...fields,
  });
const getMeeting = (uid: string) => ok<Meeting>(harness.client, "lfx.meetings.get", { uid });

const listAll = (filter: Record<string, unknown>, limit = 7) =>
  listAllPages<Registrant>(harness.client, "lfx.registrants.list", filter, { limit });

describe("lfx.registrants.create", () => {
  it("stores the email lower-case, defaults type to direct and counts the registrant", async () => {
    const meeting = await createMeeting();
    const reply = await register(meeting.uid, {
      email: "Mixed.Case@Example.ORG",
      first_name: "Ada",
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      meeting_uid: meeting.uid,
      email: "mixed.case@example.org",
      type: "direct",
      first_name: "Ada",
    });
    expect((await getMeeting(meeting.uid)).registrant_count).toBe(1);
  });

  it("is a 404 when the meeting does not exist", async () => {
    const reply = await request<ErrorBody>(harness.client, "lfx.registrants.create", {
      meeting_uid: "noSuchMeeting",
      email: uniqueEmail(),
    });
    expect(reply.status).toBe(404);
  });

  it("requires committee_uid exactly when type is committee", async () => {
    const meeting = await createMeeting();
    const missing = await register(meeting.uid, { type: "committee" });
    expect(missing.status).toBe(400);
    expect((missing.body as unknown as ErrorBody).error.details?.[0]?.path).toBe("/committee_uid");
    const stray = await register(meeting.uid, {
      committee_uid: "4f0c3b2e-9a51-4d55-8a37-6f1d2b0c9e11",
    });
    expect(stray.status).toBe(400);
    const good = await register(meeting.uid, {
      type: "committee",
      committee_uid: "4f0c3b2e-9a51-4d55-8a37-6f1d2b0c9e11",
    });
    expect(good.status).toBe(200);
  });

  it("refuses the same email twice for a meeting, whatever its case", async () => {
    const meeting = await createMeeting();
    const email = uniqueEmail();
    expect((await register(meeting.uid, { email })).status).toBe(200);
    const again = await request<ErrorBody>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: email.toUpperCase(),
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    const other = await createMeeting();
    expect((await register(other.uid, { email })).status).toBe(200);
  });

  it("lets exactly one of 20 concurrent creates of one email win across two instances", async () => {
    const meeting = await createMeeting();
    const email = uniqueEmail();
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => register(meeting.uid, { email })),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 409)).toHaveLength(19);
    expect(await listAll({ meeting_uid: meeting.uid })).toHaveLength(1);
    expect((await getMeeting(meeting.uid)).registrant_count).toBe(1);
  });

  it.each([
    "zoë@example.org",
    "用户@例子.广告",
    "a+b/c=d@example.org",
    '"quoted local"@example.org',
    "o'brien@example.ie",
    "???@example.org", // standard base64 of the local part has "/"
    "~~~@example.org", // and this one "+"
  ])("works with the address %s, as key and in lists", async (email) => {
    const meeting = await createMeeting();
    const created = await register(meeting.uid, { email });
    expect(created.status).toBe(200);
    const byEmail = await listAll({ email: email.toUpperCase() });
    expect(byEmail.map((r) => r.uid)).toContain(created.body.uid);
    const again = await register(meeting.uid, { email });
    expect(again.status).toBe(409);
  });

  it("rejects something that is not an address", async () => {
    const meeting = await createMeeting();
    const reply = await request<ErrorBody>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: "not an address",
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/email");
  });
});

describe("registrant_count", () => {
  it("is exact after 50 concurrent creates and 20 concurrent deletes on two harness.instances", async () => {
    const meeting = await createMeeting();
    const created = await Promise.all(Array.from({ length: 50 }, () => register(meeting.uid)));
    expect(created.every((r) => r.status === 200)).toBe(true);
    expect((await getMeeting(meeting.uid)).registrant_count).toBe(50);
    const deleted = await Promise.all(
      created.slice(0, 20).map((r) =>
        request(harness.client, "lfx.registrants.delete", {
          uid: r.body.uid,
          revision: r.body.revision,
        }),
      ),
    );
    expect(deleted.every((r) => r.status === 200)).toBe(true);
    expect((await getMeeting(meeting.uid)).registrant_count).toBe(30);
    expect(await listAll({ meeting_uid: meeting.uid }, 1000)).toHaveLength(30);
  });
});

describe("lfx.registrants.update", () => {
  it("moves the email: the new one is taken, the old one freed, lists follow", async () => {
    const meeting = await createMeeting();
    const oldEmail = uniqueEmail();
    const newEmail = uniqueEmail();
    const created = (await register(meeting.uid, { email: oldEmail })).body;
    const updated = await ok<Registrant>(harness.client, "lfx.registrants.update", {
      uid: created.uid,
      revision: created.revision,
      email: newEmail.toUpperCase(),
    });
    expect(updated.email).toBe(newEmail);
    expect(await listAll({ email: oldEmail })).toHaveLength(0);
    expect((await listAll({ email: newEmail })).map((r) => r.uid)).toEqual([created.uid]);
    expect((await register(meeting.uid, { email: newEmail })).status).toBe(409);
    expect((await register(meeting.uid, { email: oldEmail })).status).toBe(200);
  });

  it("refuses an email another registrant of the meeting has", async () => {
    const meeting = await createMeeting();
    const taken = uniqueEmail();
    await register(meeting.uid, { email: taken });
    const other = (await register(meeting.uid)).body;
    const reply = await request(harness.client, "lfx.registrants.update", {
      uid: other.uid,
      revision: other.revision,
      email: taken,
    });
    expect(reply.status).toBe(409);
  });

  it("refuses to move a registrant to another meeting", async () => {
    const meeting = await createMeeting();
    const other = await createMeeting();
    const created = (await register(meeting.uid)).body;
    const reply = await request<ErrorBody>(harness.client, "lfx.registrants.update", {
      uid: created.uid,
      revision: created.revision,
      meeting_uid: other.uid,
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/meeting_uid");
  });

  it("is a 409 on a stale revision and a 404 for an unknown uid", async () => {
    const meeting = await createMeeting();
    const created = (await register(meeting.uid)).body;
    await ok(harness.client, "lfx.registrants.update", {
      uid: created.uid,
      revision: created.revision,
      first_name: "A",
    });
    const stale = await request(harness.client, "lfx.registrants.update", {
      uid: created.uid,
      revision: created.revision,
      first_name: "B",
    });
    expect(stale.status).toBe(409);
    const missing = await request(harness.client, "lfx.registrants.update", {
      uid: "nope",
      revision: 1,
      first_name: "B",
    });
    expect(missing.status).toBe(404);
  });
});

describe("lfx.registrants.list", () => {
  it("needs exactly one of meeting_uid and email", async () => {
    expect((await request(harness.client, "lfx.registrants.list", {})).status).toBe(400);
    const both = await request(harness.client, "lfx.registrants.list", {
      meeting_uid: "m",
      email: uniqueEmail(),
    });
    expect(both.status).toBe(400);
  });

  it("pages through a meeting's registrants exactly once", async () => {
    const meeting = await createMeeting();
    const created = await Promise.all(Array.from({ length: 16 }, () => register(meeting.uid)));
    const listed = await listAll({ meeting_uid: meeting.uid }, 5);
    expect(listed.map((r) => r.uid).sort()).toEqual(created.map((r) => r.body.uid).sort());
  });
});

describe("storage layout (docs/CONTRACT.md §6)", () => {
  it("keeps the entity and index keys, each segment base64url", async () => {
    const meeting = await createMeeting();
    const email = "zoë+layout@example.org";
    const created = (await register(meeting.uid, { email })).body;
    const kv = await new Kvm(harness.client).open("meeting-registrants");
    const keys: string[] = [];
    for await (const key of await kv.keys()) keys.push(key);
    const logical = keys.map((key) => decodeKey(key).join("/"));
    expect(logical).toEqual(
      expect.arrayContaining([
        `registrant/${created.uid}`,
        `index/meeting/${meeting.uid}/${created.uid}`,
        `index/email/${email}/${created.uid}`,
      ]),
    );
    for (const key of keys) expect(key).toMatch(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/);
    const entry = await kv.get(
      keys.find((k) => decodeKey(k).join("/") === `registrant/${created.uid}`)!,
    );
    const stored = entry?.json<Record<string, unknown>>();
    expect(stored).toMatchObject({ uid: created.uid, email });
    expect(stored).not.toHaveProperty("revision");
  });
});

describe("deletes", () => {
  it("a meeting delete removes its registrants and their keys, freeing the emails", async () => {
    const meeting = await createMeeting();
    const email = uniqueEmail();
    const registrant = (await register(meeting.uid, { email })).body;
    await register(meeting.uid);
    const current = await getMeeting(meeting.uid);
    await ok(harness.client, "lfx.meetings.delete", {
      uid: meeting.uid,
      revision: current.revision,
    });
    expect(
      (await request(harness.client, "lfx.registrants.get", { uid: registrant.uid })).status,
    ).toBe(404);
    expect(await listAll({ meeting_uid: meeting.uid })).toHaveLength(0);
    expect(await listAll({ email })).toHaveLength(0);
  });

  it("a registrant delete is a 409 on a stale revision", async () => {
    const meeting = await createMeeting();
    const created = (await register(meeting.uid)).body;
    await ok(harness.client, "lfx.registrants.update", {
      uid: created.uid,
      revision: created.revision,
      first_name: "A",
    });
    const reply = await request(harness.client, "lfx.registrants.delete", {
      uid: created.uid,
      revision: created.revision,
    });
    expect(reply.status).toBe(409);
    // Still registered: listed and counted.
    expect((await listAll({ meeting_uid: meeting.uid })).map((r) => r.uid)).toEqual([created.uid]);
    expect((await getMeeting(meeting.uid)).registrant_count).toBe(1);
  });
});
