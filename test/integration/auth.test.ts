// docs/CONTRACT.md §8 with AUTH_MODE=jwt and keys from a JWKS file: every endpoint refuses a
// request without a valid token (401), refuses a valid caller without the endpoint's relation (403)
// and serves one with it; lists show only what the caller may view; RSVPs by the registrant itself;
// created_by / updated_by; a hostile header is a 401, never a crash; no access-check answer is a
// 503. The platform's access-check service is played by a subscription on the test's server.
import type { NatsConnection } from "@nats-io/transport-node";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import {
  bearer,
  generateSigningKey,
  signToken,
  startAccessCheckResponder,
  TEST_AUDIENCE,
  TEST_ISSUER,
  writeJwksFile,
  type AccessCheckResponder,
  type SigningKey,
} from "../support/auth.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { request, type Page, type Reply } from "../support/request.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";
import { dailyOccurrenceId, dailyMeetingInput, expectEntity } from "../support/lifecycle-kit.js";

interface Entity {
  uid: string;
  revision: number;
  [field: string]: unknown;
}
interface ErrorBody {
  error: { status: number; code: string; message: string; retry_after_ms?: number };
}

let server: NatsServerHandle;
let instance: TestInstance;
let client: NatsConnection;
let access: AccessCheckResponder;
let rsaKey: SigningKey;
let ecKey: SigningKey;
/** A key of the right kind that the service was never given. */
let strangerKey: SigningKey;

const ADMIN = "admin-principal";

beforeAll(async () => {
  [rsaKey, ecKey, strangerKey] = await Promise.all([
    generateSigningKey("RS256"),
    generateSigningKey("ES256"),
    generateSigningKey("RS256"),
  ]);
  server = await startNatsServer();
  instance = await startInstance(server.url, {
    env: {
      AUTH_MODE: "jwt",
      JWKS_FILE: await writeJwksFile([rsaKey, ecKey]),
      JWT_ISSUER: TEST_ISSUER,
      JWT_AUDIENCE: TEST_AUDIENCE,
    },
  });
  client = await connectClient(server.url);
  access = startAccessCheckResponder(client);
  access.superusers.add(ADMIN);
});

afterAll(async () => {
  access?.stop();
  await client?.close();
  await instance?.stop();
  await server?.stop();
});

let principalCounter = 0;
/** A caller no check has been granted to (and so none is cached for). */
function freshPrincipal(label: string): string {
  principalCounter += 1;
  return `${label}-${principalCounter}`;
}

async function tokenFor(sub: string, extra: { username?: string; email?: string } = {}) {
  return signToken(principalCounter % 2 === 0 ? rsaKey : ecKey, { sub, ...extra });
}

async function call<T = Entity>(subject: string, body: unknown, token?: string): Promise<Reply<T>> {
  return request<T>(client, subject, body, token === undefined ? {} : { headers: bearer(token) });
}

let adminToken: string;
async function asAdmin<T = Entity>(subject: string, body: unknown): Promise<T> {
  adminToken ??= await signToken(rsaKey, { sub: ADMIN, username: "admin" });
  const reply = await call<T>(subject, body, adminToken);
  if (reply.status !== 200) {
    throw new Error(`${subject} as admin: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  return reply.body;
}

/** One of everything, made by a caller who may do anything. */
interface Fixtures {
  meeting: Entity & { project_uid: string };
  settings: Entity;
  registrant: Entity & { email: string };
  rsvp: Entity;
  pastMeeting: Entity;
  participant: Entity & { email: string };
  recording: Entity;
  transcript: Entity;
  summary: Entity;
}

async function makeFixtures(): Promise<Fixtures> {
  const meeting = await asAdmin<Fixtures["meeting"]>(
    "lfx.meetings.create",
    dailyMeetingInput({ artifact_visibility: "meeting_participants", organizers: ["admin"] }),
  );
  const registrant = await asAdmin<Fixtures["registrant"]>("lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: uniqueEmail(),
  });
  const [settings, rsvp, pastMeeting] = await Promise.all([
    asAdmin("lfx.meeting-settings.get", { uid: meeting.uid }),
    asAdmin("lfx.rsvps.create", {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "all",
    }),
    asAdmin("lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(0),
      started_at: "2030-01-15T15:00:00Z",
    }),
  ]);
  const [participant, recording, transcript, summary] = await Promise.all([
    asAdmin<Fixtures["participant"]>("lfx.participants.join", {
      past_meeting_uid: pastMeeting.uid,
      email: uniqueEmail(),
      joined_at: "2030-01-15T15:01:00Z",
    }),
    asAdmin("lfx.recordings.create", { past_meeting_uid: pastMeeting.uid }),
    asAdmin("lfx.transcripts.create", { past_meeting_uid: pastMeeting.uid }),
    asAdmin("lfx.summaries.create", { past_meeting_uid: pastMeeting.uid }),
  ]);
  // Registrants, RSVPs and starts change the meeting; participants and artifacts the past
  // meeting: the revisions the cases name are the ones after all of that.
  const [meetingNow, pastMeetingNow, participantNow] = await Promise.all([
    asAdmin<Fixtures["meeting"]>("lfx.meetings.get", { uid: meeting.uid }),
    asAdmin("lfx.past-meetings.get", { uid: pastMeeting.uid }),
    asAdmin<Fixtures["participant"]>("lfx.participants.get", { uid: participant.uid }),
  ]);
  return {
    meeting: meetingNow,
    settings,
    registrant,
    rsvp,
    pastMeeting: pastMeetingNow,
    participant: participantNow,
    recording,
    transcript,
    summary,
  };
}

interface Case {
  subject: string;
  body: (f: Fixtures) => Record<string, unknown>;
  /** The check that grants it: `object#relation` (the responder adds `@user:<principal>`). */
  needs: (f: Fixtures) => string;
  /** A list whose request any caller may make: without the relation, the item is left out. */
  listed?: (f: Fixtures) => string;
}

const meetingOrganizer = (f: Fixtures) => `meeting:${f.meeting.uid}#organizer`;
const meetingViewer = (f: Fixtures) => `meeting:${f.meeting.uid}#viewer`;
const pastOrganizer = (f: Fixtures) => `past_meeting:${f.pastMeeting.uid}#organizer`;
const pastViewer = (f: Fixtures) => `past_meeting:${f.pastMeeting.uid}#viewer`;
const creator = (f: Fixtures) => `project:${f.meeting.project_uid}#meetings_creator`;

function artifactCases(resource: "recordings" | "transcripts" | "summaries"): Case[] {
  const entity = (f: Fixtures) =>
    ({ recordings: f.recording, transcripts: f.transcript, summaries: f.summary })[resource];
  return [
    {
      subject: `lfx.${resource}.create`,
      body: (f) => ({ past_meeting_uid: f.pastMeeting.uid }),
      needs: pastOrganizer,
    },
    { subject: `lfx.${resource}.get`, body: (f) => ({ uid: entity(f).uid }), needs: pastViewer },
    {
      subject: `lfx.${resource}.update`,
      body: (f) => ({ uid: entity(f).uid, revision: entity(f).revision, platform: "Zoom" }),
      needs: pastOrganizer,
    },
    {
      subject: `lfx.${resource}.delete`,
      body: (f) => ({ uid: entity(f).uid, revision: entity(f).revision }),
      needs: pastOrganizer,
    },
    {
      subject: `lfx.${resource}.list`,
      body: (f) => ({ past_meeting_uid: f.pastMeeting.uid }),
      needs: pastViewer,
    },
  ];
}

// Every endpoint the service serves: a test below fails when one is missing from this table.
const CASES: Case[] = [
  {
    subject: "lfx.meetings.create",
    body: (f) => meetingInput({ project_uid: f.meeting.project_uid }),
    needs: creator,
  },
  { subject: "lfx.meetings.get", body: (f) => ({ uid: f.meeting.uid }), needs: meetingViewer },
  {
    subject: "lfx.meetings.update",
    body: (f) => ({ uid: f.meeting.uid, revision: f.meeting.revision, title: "Renamed" }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.meetings.delete",
    body: (f) => ({ uid: f.meeting.uid, revision: f.meeting.revision }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.meetings.list",
    body: (f) => ({ project_uid: f.meeting.project_uid }),
    needs: meetingViewer,
    listed: (f) => f.meeting.uid,
  },
  {
    subject: "lfx.meeting-settings.get",
    body: (f) => ({ uid: f.meeting.uid }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.meeting-settings.update",
    body: (f) => ({ uid: f.meeting.uid, revision: f.settings.revision, organizers: ["someone"] }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.occurrences.list",
    body: (f) => ({ meeting_uid: f.meeting.uid }),
    needs: meetingViewer,
  },
  {
    subject: "lfx.occurrences.cancel",
    body: (f) => ({
      meeting_uid: f.meeting.uid,
      occurrence_id: dailyOccurrenceId(3),
      revision: f.meeting.revision,
    }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.occurrences.update",
    body: (f) => ({
      meeting_uid: f.meeting.uid,
      occurrence_id: dailyOccurrenceId(4),
      revision: f.meeting.revision,
      scope: "single",
      title: "Moved",
    }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.registrants.create",
    body: (f) => ({ meeting_uid: f.meeting.uid, email: uniqueEmail() }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.registrants.get",
    body: (f) => ({ uid: f.registrant.uid }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.registrants.resend",
    body: (f) => ({ uid: f.registrant.uid }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.registrants.update",
    body: (f) => ({ uid: f.registrant.uid, revision: f.registrant.revision, first_name: "Ada" }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.registrants.delete",
    body: (f) => ({ uid: f.registrant.uid, revision: f.registrant.revision }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.registrants.list",
    body: (f) => ({ meeting_uid: f.meeting.uid }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.rsvps.create",
    body: (f) => ({
      meeting_uid: f.meeting.uid,
      registrant_uid: f.registrant.uid,
      response: "declined",
      scope: "all",
    }),
    needs: meetingOrganizer,
  },
  { subject: "lfx.rsvps.get", body: (f) => ({ uid: f.rsvp.uid }), needs: meetingOrganizer },
  {
    subject: "lfx.rsvps.delete",
    body: (f) => ({ uid: f.rsvp.uid, revision: f.rsvp.revision }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.rsvps.list",
    body: (f) => ({ meeting_uid: f.meeting.uid }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.past-meetings.create",
    body: (f) => ({
      meeting_uid: f.meeting.uid,
      scheduled_start_time: "2030-01-20T15:00:00Z",
      scheduled_end_time: "2030-01-20T16:00:00Z",
    }),
    needs: creator,
  },
  {
    subject: "lfx.past-meetings.get",
    body: (f) => ({ uid: f.pastMeeting.uid }),
    needs: pastViewer,
  },
  {
    subject: "lfx.past-meetings.update",
    body: (f) => ({ uid: f.pastMeeting.uid, revision: f.pastMeeting.revision, title: "Renamed" }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.past-meetings.delete",
    body: (f) => ({ uid: f.pastMeeting.uid, revision: f.pastMeeting.revision }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.past-meetings.list",
    body: (f) => ({ meeting_uid: f.meeting.uid }),
    needs: pastViewer,
    listed: (f) => f.pastMeeting.uid,
  },
  {
    subject: "lfx.past-meetings.start",
    body: (f) => ({
      meeting_uid: f.meeting.uid,
      occurrence_id: dailyOccurrenceId(1),
      started_at: "2030-01-16T15:00:00Z",
    }),
    needs: meetingOrganizer,
  },
  {
    subject: "lfx.past-meetings.end",
    body: (f) => ({ past_meeting_uid: f.pastMeeting.uid, ended_at: "2030-01-15T16:00:00Z" }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.create",
    body: (f) => ({ past_meeting_uid: f.pastMeeting.uid, email: uniqueEmail() }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.get",
    body: (f) => ({ uid: f.participant.uid }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.update",
    body: (f) => ({ uid: f.participant.uid, revision: f.participant.revision, first_name: "Ada" }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.delete",
    body: (f) => ({ uid: f.participant.uid, revision: f.participant.revision }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.list",
    body: (f) => ({ past_meeting_uid: f.pastMeeting.uid }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.join",
    body: (f) => ({
      past_meeting_uid: f.pastMeeting.uid,
      email: uniqueEmail(),
      joined_at: "2030-01-15T15:05:00Z",
    }),
    needs: pastOrganizer,
  },
  {
    subject: "lfx.participants.leave",
    body: (f) => ({
      past_meeting_uid: f.pastMeeting.uid,
      email: f.participant.email,
      left_at: "2030-01-15T15:30:00Z",
    }),
    needs: pastOrganizer,
  },
  ...artifactCases("recordings"),
  ...artifactCases("transcripts"),
  ...artifactCases("summaries"),
  {
    subject: "lfx.summaries.approve",
    body: (f) => ({ uid: f.summary.uid, revision: f.summary.revision }),
    needs: pastOrganizer,
  },
];

describe("every endpoint", () => {
  test("has a case here (the service's endpoint list and this table agree)", async () => {
    const served = instance.running.service.stats();
    const subjects = (await served).endpoints?.map((e) => e.subject) ?? [];
    expect([...CASES.map((c) => c.subject)].sort()).toEqual([...subjects].sort());
  });

  describe.each(CASES.map((c) => [c.subject, c] as const))("%s", (_subject, c) => {
    let fixtures: Fixtures;
    beforeAll(async () => {
      fixtures = await makeFixtures();
    });

    test("401 without a token, with an expired one, another issuer's or another key's", async () => {
      const sub = freshPrincipal("rejected");
      access.superusers.add(sub);
      const tokens = [
        undefined,
        await signToken(rsaKey, { sub, expiresInS: -3600 }),
        await signToken(ecKey, { sub, issuer: "https://elsewhere.example/" }),
        await signToken(rsaKey, { sub, audience: "another-service" }),
        await signToken(strangerKey, { sub }),
        await signToken(strangerKey, { sub, kid: rsaKey.kid }),
      ];
      for (const token of tokens) {
        const reply = await call<ErrorBody>(c.subject, c.body(fixtures), token);
        expect({ token, status: reply.status, code: reply.body.error.code }).toEqual({
          token,
          status: 401,
          code: "unauthenticated",
        });
        // The same message whatever was wrong: nothing that helps forge a token.
        expect(reply.body.error.message).toBe("a valid Authorization bearer token is required");
      }
    });

    test("403 for a valid caller without the relation, success with it", async () => {
      const sub = freshPrincipal("caller");
      const token = await tokenFor(sub);
      const denied = await call<ErrorBody & Page<Entity>>(c.subject, c.body(fixtures), token);
      if (c.listed === undefined) {
        expect(denied.status).toBe(403);
        expect(denied.body.error.code).toBe("forbidden");
      } else {
        expect(denied.status).toBe(200);
        expect(denied.body.items.map((i) => i.uid)).not.toContain(c.listed(fixtures));
      }

      // Another caller, who holds it: the first one's denial stays cached for up to 10 s.
      const holder = freshPrincipal("holder");
      access.granted.add(`${c.needs(fixtures)}@user:${holder}`);
      const allowed = await call<Page<Entity>>(c.subject, c.body(fixtures), await tokenFor(holder));
      expect({ status: allowed.status, body: allowed.body }).toMatchObject({ status: 200 });
      if (c.listed !== undefined) {
        expect(allowed.body.items.map((i) => i.uid)).toContain(c.listed(fixtures));
      }
    });
  });
});

describe("callers", () => {
  test("created_by and updated_by come from the token; clients cannot set them", async () => {
    const creatorSub = freshPrincipal("creator");
    const editorSub = freshPrincipal("editor");
    access.superusers.add(creatorSub).add(editorSub);
    const creatorToken = await signToken(ecKey, {
      sub: creatorSub,
      username: "ada",
      email: "ada@example.org",
    });
    const editorToken = await signToken(rsaKey, { sub: editorSub });
    const created = await call("lfx.meetings.create", meetingInput(), creatorToken);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      created_by: { principal: creatorSub, username: "ada", email: "ada@example.org" },
      updated_by: { principal: creatorSub, username: "ada", email: "ada@example.org" },
    });
    await expectEntity("meeting", created.body);

    const updated = await call(
      "lfx.meetings.update",
      { uid: created.body.uid, revision: created.body.revision, title: "New title" },
      editorToken,
    );
    expect(updated.body).toMatchObject({
      created_by: { principal: creatorSub, username: "ada" },
      updated_by: { principal: editorSub },
    });
    expect(updated.body["updated_by"]).toEqual({ principal: editorSub });
    const read = await call("lfx.meetings.get", { uid: created.body.uid }, editorToken);
    expect(read.body["updated_by"]).toEqual({ principal: editorSub });

    const forged = await call<ErrorBody>(
      "lfx.meetings.update",
      { uid: created.body.uid, revision: updated.body.revision, created_by: { principal: "x" } },
      editorToken,
    );
    expect(forged.status).toBe(400);
  });

  test("a registrant answers its own RSVP without being an organizer; someone else cannot", async () => {
    const f = await makeFixtures();
    const registrant = await asAdmin<Entity>("lfx.registrants.create", {
      meeting_uid: f.meeting.uid,
      email: uniqueEmail(),
      username: "grace",
    });
    const graceSub = freshPrincipal("grace");
    const own = await tokenFor(graceSub, { username: "grace" });
    const other = await tokenFor(freshPrincipal("mallory"), { username: "mallory" });
    const answer = {
      meeting_uid: f.meeting.uid,
      registrant_uid: registrant.uid,
      response: "maybe",
      scope: "all",
    };

    const byOther = await call<ErrorBody>("lfx.rsvps.create", answer, other);
    expect(byOther.status).toBe(403);
    const byOwn = await call("lfx.rsvps.create", answer, own);
    expect(byOwn.status).toBe(200);
    expect(byOwn.body).toMatchObject({ registrant_uid: registrant.uid, response: "maybe" });

    expect(
      (
        await call<ErrorBody>(
          "lfx.rsvps.delete",
          { uid: byOwn.body.uid, revision: byOwn.body.revision },
          other,
        )
      ).status,
    ).toBe(403);
    const deleted = await call(
      "lfx.rsvps.delete",
      { uid: byOwn.body.uid, revision: byOwn.body.revision },
      own,
    );
    expect(deleted.status).toBe(200);
    // The registrant's own answers needed no access check at all.
    expect(access.requests.flat().filter((line) => line.endsWith(`@user:${graceSub}`))).toEqual([]);
  });

  test("a list shows only the permitted items, and its pages reach every one of them", async () => {
    const sub = freshPrincipal("lister");
    const token = await tokenFor(sub);
    const project_uid = crypto.randomUUID();
    const meetings: Entity[] = [];
    for (let i = 0; i < 12; i += 1) {
      meetings.push(await asAdmin("lfx.meetings.create", meetingInput({ project_uid })));
    }
    const permitted = meetings.filter((_, i) => i % 3 !== 1).map((m) => m.uid);
    for (const uid of permitted) access.granted.add(`meeting:${uid}#viewer@user:${sub}`);
    const requestsBefore = access.requests.length;

    const seen: string[] = [];
    let pages = 0;
    let pagesWithItems = 0;
    let cursor: string | null = null;
    do {
      const reply: Reply<Page<Entity>> = await call<Page<Entity>>(
        "lfx.meetings.list",
        { project_uid, limit: 5, ...(cursor === null ? {} : { cursor }) },
        token,
      );
      expect(reply.status).toBe(200);
      expect(reply.body.items.length).toBeLessThanOrEqual(5);
      seen.push(...reply.body.items.map((m) => m.uid));
      if (reply.body.items.length > 0) pagesWithItems += 1;
      cursor = reply.body.next_cursor;
      pages += 1;
    } while (cursor !== null);

    expect([...seen].sort()).toEqual([...permitted].sort());
    expect(pages).toBeGreaterThanOrEqual(3);
    // One access-check request per page, each asking about the whole page at once.
    const asked = access.requests.slice(requestsBefore);
    expect(asked.length).toBeGreaterThanOrEqual(pagesWithItems);
    expect(asked.length).toBeLessThanOrEqual(pages);
    expect(asked.slice(0, -1).every((lines) => lines.length === 5)).toBe(true);
  });

  test("artifacts follow their past meeting's artifact_visibility", async () => {
    const meeting = await asAdmin(
      "lfx.meetings.create",
      dailyMeetingInput({ artifact_visibility: "meeting_hosts" }),
    );
    const pastMeeting = await asAdmin("lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      occurrence_id: dailyOccurrenceId(0),
      started_at: "2030-01-15T15:00:00Z",
    });
    const recording = await asAdmin("lfx.recordings.create", { past_meeting_uid: pastMeeting.uid });
    const viewer = freshPrincipal("viewer");
    const host = freshPrincipal("host");
    access.granted.add(`past_meeting:${pastMeeting.uid}#viewer@user:${viewer}`);
    access.granted.add(`past_meeting:${pastMeeting.uid}#host@user:${host}`);
    expect(
      (await call("lfx.recordings.get", { uid: recording.uid }, await tokenFor(viewer))).status,
    ).toBe(403);
    expect(
      (await call("lfx.recordings.get", { uid: recording.uid }, await tokenFor(host))).status,
    ).toBe(200);

    const updated = await asAdmin("lfx.past-meetings.update", {
      uid: pastMeeting.uid,
      revision: (await asAdmin("lfx.past-meetings.get", { uid: pastMeeting.uid })).revision,
      artifact_visibility: "public",
    });
    expect(updated["artifact_visibility"]).toBe("public");
    const anyone = await tokenFor(freshPrincipal("anyone"));
    const listed = await call<Page<Entity>>(
      "lfx.recordings.list",
      { past_meeting_uid: pastMeeting.uid },
      anyone,
    );
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((r) => r.uid)).toEqual([recording.uid]);
  });
});

describe("hostile headers", () => {
  const bodies: [string, string][] = [
    ["huge", `Bearer ${"a".repeat(200_000)}.${"b".repeat(100)}.${"c".repeat(100)}`],
    ["many dots", `Bearer ${".".repeat(5000)}`],
    [
      "many segments",
      `Bearer ${Array.from({ length: 500 }, () => "eyJhbGciOiJub25lIn0").join(".")}`,
    ],
    ["binary", `Bearer \u0000\u0001\u00ff\ufffd.\u0002.\u0003`],
    ["not bearer", "Basic dXNlcjpwYXNz"],
    ["bearer only", "Bearer "],
    [
      "unsigned",
      `Bearer ${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"x"}').toString("base64url")}.`,
    ],
    [
      "garbage json",
      `Bearer ${Buffer.from("{{{").toString("base64url")}.${Buffer.from("[]").toString("base64url")}.AAAA`,
    ],
  ];

  test.each(bodies)("%s: 401, and the service keeps serving", async (_name, header) => {
    const reply = await request<ErrorBody>(
      client,
      "lfx.meetings.get",
      { uid: "abc" },
      { headers: { Authorization: header } },
    );
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe("unauthenticated");
    const after = await call<ErrorBody>(
      "lfx.meetings.get",
      { uid: "abc" },
      await tokenFor(freshPrincipal("after")),
    );
    expect(after.status).toBe(403);
  });

  test("the token comes before the body: without one, a body that is not JSON is a 401", async () => {
    const reply = await request<ErrorBody>(client, "lfx.meetings.create", "{not json");
    expect(reply.status).toBe(401);
    const withToken = await call<ErrorBody>(
      "lfx.meetings.create",
      "{not json",
      await tokenFor(freshPrincipal("early")),
    );
    expect(withToken.status).toBe(400);
  });

  test("a signed token whose sub would break the access-check lines: 401", async () => {
    access.superusers.add("x");
    const forged = await signToken(rsaKey, { sub: "x\nmeeting:m#organizer@user:x" });
    const reply = await call<ErrorBody>("lfx.meetings.get", { uid: "abc" }, forged);
    expect(reply.status).toBe(401);
  });

  test("the reason is logged, not replied", async () => {
    const expired = await signToken(rsaKey, { sub: freshPrincipal("late"), expiresInS: -600 });
    await call("lfx.meetings.get", { uid: "abc" }, expired);
    const line = instance.logLines.find(
      (l) => l["status"] === 401 && String(l["reason"]).includes("exp"),
    );
    expect(line).toBeDefined();
  });
});

describe("the access-check service", () => {
  test("absent: 503 with retry_after_ms, and it serves again when it is back", async () => {
    const token = await tokenFor(freshPrincipal("waiting"));
    access.stop();
    try {
      const reply = await call<ErrorBody>("lfx.meetings.get", { uid: "nobody-checks-this" }, token);
      expect(reply.status).toBe(503);
      expect(reply.body.error.code).toBe("unavailable");
      expect(reply.body.error.retry_after_ms).toEqual(expect.any(Number));
    } finally {
      const previous = access;
      access = startAccessCheckResponder(client);
      previous.superusers.forEach((s) => access.superusers.add(s));
    }
    const again = await call<ErrorBody>("lfx.meetings.get", { uid: "nobody-checks-this" }, token);
    expect(again.status).toBe(403);
  });
});
