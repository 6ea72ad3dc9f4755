// CONTRACT §1 (JSON log lines) and STYLE "fastify": one "request completed" line per request,
// 4xx at info, and no personal data (emails, names) in any line at info level.
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
