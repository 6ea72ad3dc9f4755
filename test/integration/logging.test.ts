// docs/CONTRACT.md §1 (JSON log lines) and STYLE "fastify": one "request completed" line per
// request, 4xx at info, and no personal data (emails, names) in any line at info level.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ok, request } from "../support/request.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";

interface MeetingReply {
  uid: string;
  revision: number;
}
type LogLine = Record<string, unknown>;

let server: NatsServerHandle;
let instance: TestInstance;
let client: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  instance = await startInstance(server.url, { logLevel: "info" });
  client = await connectClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await instance?.stop();
  await server?.stop();
});

/** The lines written from now on: call the returned function to read them. */
function linesFromNow(): () => LogLine[] {
  const mark = instance.logLines.length;
  return () => instance.logLines.slice(mark);
}

function completedLines(lines: LogLine[]): LogLine[] {
  return lines.filter((line) => line["msg"] === "request completed");
}

/** Fails with the offending lines when any line contains one of `secrets`. */
function expectNoneContains(lines: LogLine[], secrets: string[]): void {
  const leaks = lines
    .map((line) => JSON.stringify(line))
    .filter((text) => secrets.some((secret) => text.toLowerCase().includes(secret.toLowerCase())));
  expect(leaks).toEqual([]);
}

it("writes one 'request completed' line per request, with subject, status and duration", async () => {
  const lines = linesFromNow();
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  await ok(client, "lfx.meetings.get", { uid: meeting.uid });
  await request(client, "lfx.meetings.get", { uid: "noSuchMeeting" });
  await ok(client, "lfx.meetings.update", {
    uid: meeting.uid,
    revision: meeting.revision,
    title: "x",
  });
  await request(client, "lfx.meetings.update", {
    uid: meeting.uid,
    revision: meeting.revision,
    title: "y",
  });
  await request(client, "lfx.meetings.list", { colour: "red" });

  const completed = completedLines(lines());
  expect(completed.map((line) => [line["subject"], line["status"]])).toEqual([
    ["lfx.meetings.create", 200],
    ["lfx.meetings.get", 200],
    ["lfx.meetings.get", 404],
    ["lfx.meetings.update", 200],
    ["lfx.meetings.update", 409],
    ["lfx.meetings.list", 400],
  ]);
  for (const line of completed) {
    expect(line).toEqual(
      expect.objectContaining({
        level: "info",
        service: "lfx-meeting-service",
        duration_ms: expect.any(Number) as number,
        time: expect.stringMatching(/Z$/) as string,
      }),
    );
    expect(line["duration_ms"]).toBeGreaterThanOrEqual(0);
  }
});

it("gives each line a request id, the caller's when it sends a valid one, and the uid touched", async () => {
  const lines = linesFromNow();
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput(), {
    headers: { "Request-Id": "gateway-req-1" },
  });
  await ok(
    client,
    "lfx.meetings.get",
    { uid: meeting.uid },
    { headers: { "X-Request-Id": "x-2" } },
  );
  await request(
    client,
    "lfx.meetings.get",
    { uid: "neverThere42" },
    {
      headers: { "Request-Id": "has space" },
    },
  );
  await ok(client, "lfx.meetings.list", {}, { headers: { "Request-Id": "r".repeat(129) } });

  const completed = completedLines(lines());
  expect(completed.map((line) => [line["subject"], line["uid"]])).toEqual([
    ["lfx.meetings.create", meeting.uid],
    ["lfx.meetings.get", meeting.uid],
    ["lfx.meetings.get", "neverThere42"],
    ["lfx.meetings.list", undefined],
  ]);
  const ids = completed.map((line) => line["request_id"]);
  expect(ids.slice(0, 2)).toEqual(["gateway-req-1", "x-2"]);
  // Malformed ids (a space, 129 characters) are replaced by generated ones, each different.
  for (const id of ids.slice(2)) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  expect(new Set(ids).size).toBe(4);
});

it("logs a client error at info, with its status and message", async () => {
  const lines = linesFromNow();
  const missing = await request(client, "lfx.meetings.get", { uid: "neverThere42" });
  expect(missing.status).toBe(404);
  const invalid = await request(client, "lfx.meetings.get", { uid: "x", colour: "red" });
  expect(invalid.status).toBe(400);

  const completed = completedLines(lines());
  expect(completed).toEqual([
    expect.objectContaining({
      level: "info",
      subject: "lfx.meetings.get",
      status: 404,
      error: missing.errorHeader,
    }),
    expect.objectContaining({
      level: "info",
      subject: "lfx.meetings.get",
      status: 400,
      error: invalid.errorHeader,
    }),
  ]);
  expect(lines().filter((line) => line["level"] === "error" || line["level"] === "warn")).toEqual(
    [],
  );
});

it("keeps organizers' names and emails out of the log", async () => {
  const lines = linesFromNow();
  const organizers = ["Grace Hopper", "grace.hopper@example.org"];
  const meeting = await ok<MeetingReply>(
    client,
    "lfx.meetings.create",
    meetingInput({ organizers, description: "Ask grace.hopper@example.org" }),
  );
  const settings = await ok<{ revision: number }>(client, "lfx.meeting-settings.get", {
    uid: meeting.uid,
  });
  const later = ["Ada Lovelace", "ada.lovelace@example.org"];
  await ok(client, "lfx.meeting-settings.update", {
    uid: meeting.uid,
    revision: settings.revision,
    organizers: later,
  });
  // Refused requests carrying the same data.
  await request(client, "lfx.meeting-settings.update", {
    uid: meeting.uid,
    revision: settings.revision,
    organizers: later,
  });
  await request(client, "lfx.meetings.create", meetingInput({ organizers, duration: -1 }));

  expect(completedLines(lines())).toHaveLength(5);
  expectNoneContains(lines(), [...organizers, ...later, "Grace", "Lovelace"]);
});

it("keeps a registrant's email and names out of the log, also on a duplicate (409)", async () => {
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  const lines = linesFromNow();
  const email = uniqueEmail("katherine.johnson");
  const registrant = {
    meeting_uid: meeting.uid,
    email,
    first_name: "Katherine",
    last_name: "Johnson",
  };
  await ok(client, "lfx.registrants.create", registrant);
  const duplicate = await request(client, "lfx.registrants.create", registrant);
  expect(duplicate.status).toBe(409);
  await request(client, "lfx.registrants.list", { email });

  expect(completedLines(lines())).toHaveLength(3);
  expectNoneContains(lines(), [email, "Katherine", "Johnson"]);
});

it("keeps a body that is not JSON out of the log", async () => {
  const lines = linesFromNow();
  // An email left unquoted, and a list of names: JSON.parse quotes the text around the error.
  const bodies = ['{"email": dot@x.io}', '{"organizers": [Dorothy Vaughan]}'];
  for (const body of bodies) {
    expect((await request(client, "lfx.meetings.create", body)).status).toBe(400);
  }

  expect(completedLines(lines())).toHaveLength(2);
  expectNoneContains(lines(), ["dot@x.io", "Dorothy"]);
});

it("keeps a participant's email out of the log, also on a duplicate (409)", async () => {
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  const pastMeeting = await ok<{ uid: string }>(client, "lfx.past-meetings.create", {
    meeting_uid: meeting.uid,
    scheduled_start_time: "2030-01-15T15:00:00Z",
    scheduled_end_time: "2030-01-15T16:00:00Z",
  });
  const lines = linesFromNow();
  const email = uniqueEmail("mary.jackson");
  const participant = { past_meeting_uid: pastMeeting.uid, email };
  await ok(client, "lfx.participants.create", participant);
  const duplicate = await request(client, "lfx.participants.create", participant);
  expect(duplicate.status).toBe(409);

  expect(completedLines(lines())).toHaveLength(2);
  expectNoneContains(lines(), [email]);
});

/**
 * An email as it may hide in a key name (docs/CONTRACT.md §6 encodes each segment as base64url).
 */
function encodedForms(email: string): string[] {
  return [email, Buffer.from(email.toLowerCase(), "utf8").toString("base64url")];
}

it("keeps registrants' data out of the log through update, get, list, RSVP, delete and conflicts", async () => {
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  const lines = linesFromNow();
  const first = uniqueEmail("hedy.lamarr");
  const second = uniqueEmail("annie.easley");
  const names = ["Hedy", "Lamarr", "Annie", "Easley", "hedy_l", "Inventor", "Actress Guild"];
  const a = await ok<{ uid: string; revision: number }>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: first,
    first_name: "Hedy",
    last_name: "Lamarr",
    username: "hedy_l",
  });
  const b = await ok<{ uid: string; revision: number }>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: second,
    first_name: "Annie",
    last_name: "Easley",
  });
  // Concurrent duplicates: the losers' conflicts must not name the email or its key.
  const racers = await Promise.all(
    Array.from({ length: 4 }, () =>
      request(client, "lfx.registrants.create", { meeting_uid: meeting.uid, email: first }),
    ),
  );
  expect(racers.map((r) => r.status)).toEqual([409, 409, 409, 409]);
  // An update to another registrant's email is a conflict; a stale one too.
  const taken = await request(client, "lfx.registrants.update", {
    uid: b.uid,
    revision: b.revision,
    email: first.toUpperCase(),
  });
  expect(taken.status).toBe(409);
  const updated = await ok<{ revision: number }>(client, "lfx.registrants.update", {
    uid: a.uid,
    revision: a.revision,
    job_title: "Inventor",
    org_name: "Actress Guild",
  });
  await request(client, "lfx.registrants.update", {
    uid: a.uid,
    revision: a.revision,
    last_name: "Markey",
  });
  await ok(client, "lfx.registrants.get", { uid: a.uid });
  await ok(client, "lfx.registrants.list", { email: first });
  await ok(client, "lfx.registrants.list", { meeting_uid: meeting.uid });
  const rsvp = await ok<{ uid: string }>(client, "lfx.rsvps.create", {
    meeting_uid: meeting.uid,
    registrant_uid: a.uid,
    response: "accepted",
    scope: "all",
  });
  await ok(client, "lfx.rsvps.get", { uid: rsvp.uid });
  await ok(client, "lfx.rsvps.list", { meeting_uid: meeting.uid });
  // Invalid values are refused without being quoted.
  const invalid = await request(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: "Hedy Lamarr <hedy@example>",
    first_name: 42,
    username: ["hedy_l"],
  });
  expect(invalid.status).toBe(400);
  await ok(client, "lfx.registrants.delete", { uid: a.uid, revision: updated.revision });

  expect(completedLines(lines()).length).toBeGreaterThanOrEqual(15);
  expectNoneContains(lines(), [...encodedForms(first), ...encodedForms(second), ...names]);
});

it("keeps participants' data out of the log through start, join, leave, update and conflicts", async () => {
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  const invited = uniqueEmail("radia.perlman");
  await ok(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: invited,
    first_name: "Radia",
    last_name: "Perlman",
  });
  const lines = linesFromNow();
  // start copies the registrant into an invited participant.
  const past = await ok<{ uid: string }>(client, "lfx.past-meetings.start", {
    meeting_uid: meeting.uid,
    started_at: "2030-01-15T15:00:00Z",
  });
  const guest = uniqueEmail("evelyn.boyd");
  const joins = await Promise.all(
    Array.from({ length: 3 }, () =>
      request<{ uid: string; revision: number }>(client, "lfx.participants.join", {
        past_meeting_uid: past.uid,
        email: guest,
        first_name: "Evelyn",
        last_name: "Boyd",
        username: "evelyn_b",
        joined_at: "2030-01-15T15:05:00Z",
      }),
    ),
  );
  expect(joins.map((j) => j.status)).toEqual([200, 200, 200]);
  const left = await ok<{ uid: string; revision: number }>(client, "lfx.participants.leave", {
    past_meeting_uid: past.uid,
    email: guest,
    left_at: "2030-01-15T15:45:00Z",
    leave_reason: "Evelyn had to go",
  });
  await ok(client, "lfx.participants.update", {
    uid: left.uid,
    revision: left.revision,
    last_name: "Granville",
  });
  const duplicate = await request(client, "lfx.participants.create", {
    past_meeting_uid: past.uid,
    email: invited.toUpperCase(),
    first_name: "Radia",
  });
  expect(duplicate.status).toBe(409);
  await ok(client, "lfx.participants.list", { past_meeting_uid: past.uid });
  await request(client, "lfx.participants.leave", {
    past_meeting_uid: past.uid,
    email: uniqueEmail("nobody"),
    left_at: "2030-01-15T15:45:00Z",
  });

  expect(completedLines(lines()).length).toBeGreaterThanOrEqual(9);
  expectNoneContains(lines(), [
    ...encodedForms(invited),
    ...encodedForms(guest),
    "Radia",
    "Perlman",
    "Evelyn",
    "Boyd",
    "evelyn_b",
    "Granville",
  ]);
});

it("keeps personal data out of the error line of a request that fails in storage", async () => {
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  const email = uniqueEmail("mae.jemison");
  const lines = linesFromNow();
  // The registrants' bucket disappears under the running instance: the create fails in the
  // store, and its error line carries the cause. (The instance is replaced afterwards.)
  const jsm = await jetstreamManager(client);
  await jsm.streams.delete("KV_meeting-registrants");
  let written: LogLine[];
  try {
    const reply = await request(client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email,
      first_name: "Mae",
      last_name: "Jemison",
    });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    written = lines();
  } finally {
    await instance.stop();
    instance = await startInstance(server.url, { logLevel: "info" });
  }
  expect(written.filter((line) => line["level"] === "error")).toEqual([
    expect.objectContaining({
      subject: "lfx.registrants.create",
      err: expect.anything() as unknown,
    }),
  ]);
  expectNoneContains(written, [...encodedForms(email), "Mae", "Jemison"]);
});
