// Faults: a KV write whose outcome is unknown (docs/MEASUREMENTS.md: "a timeout does not mean not written").
// A proxy around the service's connection (support/faulty-connection.ts) turns a chosen write
// into a TimeoutError, either after the server stored it ("stored") or without sending it
// ("lost"). The caller gets 503; a retry with the same Idempotency-Key, or an update repeated
// with the same revision and body, then gets the result of the first attempt when it was stored:
// never a second entity, never a spurious conflict (docs/CONTRACT.md §3). And nothing is left behind that
// a repair would have to fix, except where noted.
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { faultyConnection, kvWrite, type FaultyConnection } from "../support/faulty-connection.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { listAllPages, ok, request, type Reply } from "../support/request.js";
import { ensureBuilt, runConsistencyCheck } from "../support/service-process.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";
import { listAll } from "../support/fault-checks.js";
import { lifecycleClient, type PastMeeting } from "../support/lifecycle-kit.js";
import { encodeKeyPrefix } from "../../src/store/kv/keys.js";

interface Meeting {
  uid: string;
  revision: number;
  title: string;
  project_uid: string;
  registrant_count: number;
}
interface ErrorBody {
  error: { status: number; code: string; retry_after_ms?: number };
}

let server: NatsServerHandle;
let instance: TestInstance;
let faults: FaultyConnection;
let client: NatsConnection;
/** The meetings bucket, read directly by the tests. */
let kv: KV;

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  instance = await startInstance(server.url, {
    env: { KV_TIMEOUT_MS: "1000" },
    wrapConnection: (nc) => {
      faults = faultyConnection(nc);
      return faults.nc;
    },
  });
  client = await connectClient(server.url);
  kv = await new Kvm(client).open("meetings");
}, 120_000);

afterEach(() => faults.clear());

afterAll(async () => {
  await client?.close();
  await instance?.stop();
  await server?.stop();
});

/** A meeting's own key is one token (its uid); index keys have several. */
const meetingKey = (key: string) => !key.includes(".");

/** A registrant's key under its meeting: `index/meeting/{meeting_uid}/{uid}`, encoded. */
const isKeyUnderMeeting = (key: string) => key.startsWith(encodeKeyPrefix(["index", "meeting"]));

/** A new meeting and a registration for it that sends the same Idempotency-Key each time. */
async function registrationToRetry() {
  const meeting = await ok<Meeting>(client, "lfx.meetings.create", meetingInput());
  const body = { meeting_uid: meeting.uid, email: uniqueEmail() };
  const key = `registrant-${randomUUID()}`;
  const send = () =>
    request<{ uid: string } & ErrorBody>(client, "lfx.registrants.create", body, {
      headers: { "Idempotency-Key": key },
    });
  return { meeting, body, send };
}

async function registrantCount(meetingUid: string): Promise<number> {
  return (await ok<Meeting>(client, "lfx.meetings.get", { uid: meetingUid })).registrant_count;
}

function createMeeting(body: object, key: string): Promise<Reply<Meeting & ErrorBody>> {
  return request<Meeting & ErrorBody>(client, "lfx.meetings.create", body, {
    headers: { "Idempotency-Key": key },
  });
}

/** Retries like a client: on 503, after retry_after_ms, until a reply that is not a 503. */
async function retried<T>(
  send: () => Promise<Reply<T & ErrorBody>>,
): Promise<Reply<T & ErrorBody>> {
  for (let attempt = 0; ; attempt += 1) {
    const reply = await send();
    if (reply.status !== 503 || attempt >= 20) return reply;
    await new Promise((resolve) => setTimeout(resolve, reply.body.error.retry_after_ms ?? 500));
  }
}

async function expectConsistent() {
  const check = await runConsistencyCheck(server.url, "--grace-seconds", "0");
  expect(check.findings).toEqual([]);
  expect(check.stdout).toBe("0 inconsistencies found\n");
  expect(check.code).toBe(0);
}

describe.each([
  ["the meeting", kvWrite("meetings", meetingKey)],
  ["an index key", kvWrite("meetings", (key) => !meetingKey(key))],
  ["the settings", kvWrite("meeting-settings")],
])("a create whose write of %s timed out", (_what, write) => {
  it.each(["stored", "lost"] as const)(
    "(%s) is retried with its Idempotency-Key into exactly one meeting",
    async (mode) => {
      const body = meetingInput({ organizers: ["alice"] });
      const key = `unknown-${randomUUID()}`;
      const fault = faults.failNext(write, mode);
      const first = await createMeeting(body, key);
      expect(fault.hits).toHaveLength(1);
      expect(first.status).toBe(503);
      expect(first.body.error.retry_after_ms).toBeGreaterThan(0);

      const retry = await retried(() => createMeeting(body, key));
      expect(retry.status).toBe(200);
      const listed = await listAll(client, { project_uid: body["project_uid"] });
      expect(listed.map((m) => [m.uid, m.revision])).toEqual([
        [retry.body.uid, retry.body.revision],
      ]);
      const settings = await ok<{ organizers: string[] }>(client, "lfx.meeting-settings.get", {
        uid: retry.body.uid,
      });
      expect(settings.organizers).toEqual(["alice"]);
      // A further repeat is the first successful reply again.
      expect((await createMeeting(body, key)).body).toEqual(retry.body);
      await expectConsistent();
    },
  );
});

it("a create whose Idempotency-Key claim timed out (stored) ends in exactly one meeting", async () => {
  const body = meetingInput();
  const key = `claim-${randomUUID()}`;
  faults.failNext(kvWrite("meeting-service-idempotency"), "stored");
  expect((await createMeeting(body, key)).status).toBe(503);
  // The claim looks like an attempt in flight until its lease ends: 503s until then.
  const retry = await retried(() => createMeeting(body, key));
  expect(retry.status).toBe(200);
  const listed = await listAll(client, { project_uid: body["project_uid"] });
  expect(listed.map((m) => m.uid)).toEqual([retry.body.uid]);
  await expectConsistent();
}, 60_000);

describe("an update whose write timed out", () => {
  it.each(["stored", "lost"] as const)(
    "(%s) repeated with the same revision and body gets the entity as the first try left it",
    async (mode) => {
      const created = await ok<Meeting>(client, "lfx.meetings.create", meetingInput());
      const update = { uid: created.uid, revision: created.revision, title: "Renamed" };
      faults.failNext(kvWrite("meetings", meetingKey), mode);
      expect((await request(client, "lfx.meetings.update", update)).status).toBe(503);

      const retry = await retried(() =>
        request<Meeting & ErrorBody>(client, "lfx.meetings.update", update),
      );
      expect(retry.status).toBe(200);
      expect(retry.body.title).toBe("Renamed");
      const current = await ok<Meeting>(client, "lfx.meetings.get", { uid: created.uid });
      expect(current).toEqual(retry.body);
      expect(current.revision).toBeGreaterThan(created.revision);
    },
  );

  it("(stored) that moved the meeting to another project leaves no stale index key", async () => {
    const created = await ok<Meeting>(client, "lfx.meetings.create", meetingInput());
    const project = randomUUID();
    const update = { uid: created.uid, revision: created.revision, project_uid: project };
    faults.failNext(kvWrite("meetings", meetingKey), "stored");
    expect((await request(client, "lfx.meetings.update", update)).status).toBe(503);
    const retry = await retried(() =>
      request<Meeting & ErrorBody>(client, "lfx.meetings.update", update),
    );
    expect(retry.status).toBe(200);
    expect((await listAll(client, { project_uid: project })).map((m) => m.uid)).toEqual([
      created.uid,
    ]);
    expect(await listAll(client, { project_uid: created.project_uid })).toEqual([]);
    await expectConsistent();
  });
});

describe("a registrant create whose write timed out (stored)", () => {
  it("is retried into one registrant that keeps its email unique", async () => {
    const { meeting, body, send } = await registrationToRetry();
    faults.failNext(
      kvWrite("meeting-registrants", (k) => k.split(".").length === 2),
      "stored",
    );
    expect((await send()).status).toBe(503);
    const retry = await retried(send);
    expect(retry.status).toBe(200);

    const listed = await listAll(client, { meeting_uid: meeting.uid }, "lfx.registrants.list");
    expect(listed.map((r) => r.uid)).toEqual([retry.body.uid]);
    // The uniqueness claim survived the failed attempt: the same email again is a conflict.
    const again = await request<ErrorBody>(client, "lfx.registrants.create", body);
    expect(again.status).toBe(409);
    // The count is the registrants committed, whatever became of the first attempt's reply.
    expect(await registrantCount(meeting.uid)).toBe(1);
    await expectConsistent();
  });

  it.each(["lost", "refused"] as const)(
    "(key under the meeting %s) is neither counted nor listed, keeps its email, and its retry commits it",
    async (mode) => {
      const { meeting, body, send } = await registrationToRetry();
      // The registrant is stored; the key that commits it is not ("refused": a definite failure,
      // after which the stored registrant must keep its claim all the same).
      faults.failNext(kvWrite("meeting-registrants", isKeyUnderMeeting), mode);
      expect((await send()).status).toBe(503);
      const listed = () => listAll(client, { meeting_uid: meeting.uid }, "lfx.registrants.list");
      expect(await listed()).toEqual([]);
      expect(await registrantCount(meeting.uid)).toBe(0);
      expect((await request(client, "lfx.registrants.create", body)).status).toBe(409);

      const retry = await retried(send);
      expect(retry.status).toBe(200);
      expect((await listed()).map((r) => r.uid)).toEqual([retry.body.uid]);
      expect(await registrantCount(meeting.uid)).toBe(1);
      await expectConsistent();
    },
  );
});

describe("a registration whose count was never stored (the meeting's write lost)", () => {
  it("is counted by every read, and the next registration stores the count", async () => {
    const meeting = await ok<Meeting>(client, "lfx.meetings.create", meetingInput());
    const register = () =>
      ok<{ uid: string }>(client, "lfx.registrants.create", {
        meeting_uid: meeting.uid,
        email: uniqueEmail(),
      });
    await register();
    // Every write of the meeting fails while the second registrant is created: its count is
    // not stored.
    const lost = faults.failNext(kvWrite("meetings", meetingKey), "lost", 100);
    await register();
    expect(lost.hits.length).toBeGreaterThan(0);
    faults.clear();
    const stored = await kv.get(meeting.uid);
    expect(stored?.json<Meeting>().registrant_count).toBe(1);

    expect(await registrantCount(meeting.uid)).toBe(2);
    const [listed] = await listAllPages<Meeting>(
      client,
      "lfx.meetings.list",
      { project_uid: meeting.project_uid },
      { limit: 100 },
    );
    expect(listed?.registrant_count).toBe(2);
    await expectConsistent();

    await register();
    expect((await kv.get(meeting.uid))?.json<Meeting>().registrant_count).toBe(3);
    expect(await registrantCount(meeting.uid)).toBe(3);
  });
});

describe("a transcript whose past meeting's list write was lost", () => {
  it("is in the list every read shows, and the next transcript's write stores it", async () => {
    const kit = lifecycleClient(client);
    const { pastMeeting } = await kit.startedPastMeeting();
    const transcribe = () =>
      ok<{ uid: string }>(client, "lfx.transcripts.create", {
        past_meeting_uid: pastMeeting.uid,
        transcript_files: [{ id: "t", file_type: "TRANSCRIPT", file_size: 10 }],
      });
    // Every write of the past meeting fails while the transcript is created.
    const lost = faults.failNext(kvWrite("past-meetings", meetingKey), "lost", 100);
    const first = await transcribe();
    expect(lost.hits.length).toBeGreaterThan(0);
    faults.clear();
    const stored = await new Kvm(client).open("past-meetings");
    expect((await stored.get(pastMeeting.uid))?.json<PastMeeting>().transcript_uids).toEqual([]);

    expect((await kit.getPastMeeting(pastMeeting.uid)).transcript_uids).toEqual([first.uid]);
    const [listed] = await kit.listAll<PastMeeting>("lfx.past-meetings.list", {
      meeting_uid: pastMeeting.meeting_uid,
    });
    expect(listed?.transcript_uids).toEqual([first.uid]);
    await expectConsistent();

    const second = await transcribe();
    const expected = [first.uid, second.uid];
    expect((await stored.get(pastMeeting.uid))?.json<PastMeeting>().transcript_uids).toEqual(
      expected,
    );
    expect((await kit.getPastMeeting(pastMeeting.uid)).transcript_uids).toEqual(expected);
  });
});

describe("a transcript create whose key under the past meeting was refused", () => {
  it("is retried with its Idempotency-Key into a transcript in the past meeting's list", async () => {
    const kit = lifecycleClient(client);
    const { pastMeeting } = await kit.startedPastMeeting();
    const key = `transcript-${randomUUID()}`;
    const send = () =>
      request<{ uid: string } & ErrorBody>(
        client,
        "lfx.transcripts.create",
        {
          past_meeting_uid: pastMeeting.uid,
          transcript_files: [{ id: "t", file_type: "TRANSCRIPT", file_size: 10 }],
        },
        { headers: { "Idempotency-Key": key } },
      );
    const underPastMeeting = encodeKeyPrefix(["index", "past-meeting", pastMeeting.uid]);
    faults.failNext(
      kvWrite("past-meeting-transcripts", (k) => k.startsWith(underPastMeeting)),
      "refused",
    );
    expect((await send()).status).toBe(503);
    expect((await kit.getPastMeeting(pastMeeting.uid)).transcript_uids).toEqual([]);

    const retry = await retried(send);
    expect(retry.status).toBe(200);
    expect((await kit.getPastMeeting(pastMeeting.uid)).transcript_uids).toEqual([retry.body.uid]);
    await expectConsistent();
  });
});

describe("a registrant update that changed the email, whose write timed out (stored)", () => {
  it("is finished by its retry: the old email is free again, the new one taken", async () => {
    const meeting = await ok<Meeting>(client, "lfx.meetings.create", meetingInput());
    const oldEmail = uniqueEmail();
    const registrant = await ok<{ uid: string; revision: number }>(
      client,
      "lfx.registrants.create",
      { meeting_uid: meeting.uid, email: oldEmail },
    );
    const newEmail = uniqueEmail();
    const update = { uid: registrant.uid, revision: registrant.revision, email: newEmail };
    faults.failNext(
      kvWrite("meeting-registrants", (k) => k.split(".").length === 2),
      "stored",
    );
    expect((await request(client, "lfx.registrants.update", update)).status).toBe(503);
    const retry = await retried(() =>
      request<{ email: string } & ErrorBody>(client, "lfx.registrants.update", update),
    );
    expect(retry.status).toBe(200);
    expect(retry.body.email).toBe(newEmail);

    const register = (email: string) =>
      request(client, "lfx.registrants.create", { meeting_uid: meeting.uid, email });
    expect((await register(newEmail)).status).toBe(409);
    expect((await register(oldEmail)).status).toBe(200);
    expect(
      await listAll(client, { email: oldEmail }, "lfx.registrants.list").then((r) => r.length),
    ).toBe(1);
    await expectConsistent();
  });
});
