// The typed client's behaviour that the service alone cannot show on demand: retries of 503s after
// the server's hint, of timeouts only where repeating is safe, error decoding, headers sent. The
// service is played by plain subscriptions on the file's own nats-server, answering in the wire
// format of docs/CONTRACT.md §3 (micro error headers and a JSON error body).
import { headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/transport-node";
import {
  createMeetingClient,
  MeetingServiceError,
  type MeetingClient,
} from "../../client/src/index.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { connectClient } from "../support/service.js";

let server: NatsServerHandle;
let nc: NatsConnection;
let api: MeetingClient;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectClient(server.url);
  api = createMeetingClient(nc, { timeoutMs: 300 });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const MEETING = { uid: "m1", revision: 3, title: "TSC" };

type Answer = ((msg: Msg) => void) | "silence";

/** A stand-in for the service on `subject`: the n-th request gets the n-th answer. */
function standIn(subject: string, answers: Answer[]) {
  const seen: Msg[] = [];
  const sub = nc.subscribe(subject, {
    callback: (_err, msg) => {
      seen.push(msg);
      const answer = answers[seen.length - 1] ?? "silence";
      if (answer !== "silence") answer(msg);
    },
  });
  return { seen, stop: () => sub.unsubscribe() };
}

const success = (body: object) => (msg: Msg) => msg.respond(JSON.stringify(body));

const failure =
  (status: number, code: string, extra: object = {}) =>
  (msg: Msg) => {
    const h = natsHeaders();
    h.set("Nats-Service-Error", `${code} happened`);
    h.set("Nats-Service-Error-Code", String(status));
    const body = { error: { status, code, message: `${code} happened`, ...extra } };
    msg.respond(JSON.stringify(body), { headers: h });
  };

async function caught(call: Promise<unknown>): Promise<MeetingServiceError> {
  const outcome = await call.then(
    (reply) => new Error(`expected a failure, got ${JSON.stringify(reply)}`),
    (err: unknown) => err,
  );
  if (!(outcome instanceof MeetingServiceError)) throw outcome;
  return outcome;
}

it("retries a 503 after the server's retry_after_ms, then returns the reply", async () => {
  const service = standIn("lfx.meetings.get", [
    failure(503, "unavailable", { retry_after_ms: 150 }),
    success(MEETING),
  ]);
  try {
    const reply = await api.meetings.get({ uid: "m1" });
    expect(reply).toEqual(MEETING);
    expect(service.seen).toHaveLength(2);
  } finally {
    service.stop();
  }
});

it("gives up on 503s after its retries, with the last error's hint", async () => {
  const unavailable = failure(503, "unavailable", { retry_after_ms: 1 });
  const service = standIn("lfx.meetings.update", [unavailable, unavailable, unavailable]);
  try {
    const error = await caught(
      api.meetings.update({ uid: "m1", revision: 3, title: "x" }, { retries: 2 }),
    );
    expect([error.status, error.code, error.retryAfterMs]).toEqual([503, "unavailable", 1]);
    expect(service.seen).toHaveLength(3);
  } finally {
    service.stop();
  }
});

it("never retries a 4xx, and decodes status, code and details", async () => {
  const details = [{ path: "/title", message: "is required" }];
  const service = standIn("lfx.meetings.create", [
    failure(400, "invalid_request", { details }),
    success(MEETING),
  ]);
  try {
    const error = await caught(api.meetings.create({} as never, { idempotencyKey: "k1" }));
    expect(error).toMatchObject({ status: 400, code: "invalid_request", details });
    expect(error.toJSON().error).toEqual({
      status: 400,
      code: "invalid_request",
      message: "invalid_request happened",
      details,
    });
    expect(service.seen).toHaveLength(1);
  } finally {
    service.stop();
  }
});

it("retries a timed-out create only when it carries an Idempotency-Key", async () => {
  const withKey = standIn("lfx.meetings.create", ["silence", success(MEETING)]);
  try {
    const input = {
      project_uid: "4f0c3b2e-9a51-4d55-8a37-6f1d2b0c9e11",
      title: "TSC",
      start_time: "2030-01-15T15:00:00Z",
      duration: 60,
      timezone: "UTC",
    };
    expect(await api.meetings.create(input, { idempotencyKey: "retry-me" })).toEqual(MEETING);
    expect(withKey.seen.map((m) => m.headers?.get("Idempotency-Key"))).toEqual([
      "retry-me",
      "retry-me",
    ]);
    withKey.seen.length = 0;
    const error = await caught(api.meetings.create(input));
    expect([error.status, error.code]).toEqual([504, "timeout"]);
    // The timed-out attempt may have been stored: it is not sent again.
    expect(withKey.seen).toHaveLength(1);
  } finally {
    withKey.stop();
  }
});

it("retries a timed-out read, which cannot change anything", async () => {
  const service = standIn("lfx.rsvps.get", ["silence", success({ uid: "r1", revision: 1 })]);
  try {
    expect(await api.rsvps.get({ uid: "r1" })).toEqual({ uid: "r1", revision: 1 });
    expect(service.seen).toHaveLength(2);
  } finally {
    service.stop();
  }
});

it("reports no responders, after retrying, when nothing serves the subject", async () => {
  const error = await caught(api.transcripts.get({ uid: "t1" }, { retries: 1 }));
  expect([error.status, error.code]).toEqual([503, "no_responders"]);
});

it("sends the token as a bearer Authorization header, and the request id", async () => {
  const tokenClient = createMeetingClient(nc, { token: "client-token", timeoutMs: 300 });
  const service = standIn("lfx.meeting-settings.get", [success({}), success({})]);
  try {
    await tokenClient.meetingSettings.get({ uid: "m1" }, { requestId: "req-7" });
    await tokenClient.meetingSettings.get({ uid: "m1" }, { token: "call-token" });
    expect(service.seen.map((m) => m.headers?.get("Authorization"))).toEqual([
      "Bearer client-token",
      "Bearer call-token",
    ]);
    expect(service.seen[0]?.headers?.get("Request-Id")).toBe("req-7");
    expect(service.seen[0]?.json()).toEqual({ uid: "m1" });
  } finally {
    service.stop();
  }
});

it("iterates the pages of a list, sending each next_cursor", async () => {
  const pages = [
    { items: [{ uid: "a" }, { uid: "b" }], next_cursor: "c1" },
    { items: [{ uid: "c" }], next_cursor: "c2" },
    { items: [], next_cursor: null },
  ];
  const service = standIn("lfx.meetings.list", pages.map(success));
  try {
    const uids: string[] = [];
    for await (const meeting of api.items("lfx.meetings.list", { project_uid: "p", limit: 2 })) {
      uids.push(meeting.uid);
    }
    expect(uids).toEqual(["a", "b", "c"]);
    expect(service.seen.map((m) => m.json())).toEqual([
      { project_uid: "p", limit: 2 },
      { project_uid: "p", limit: 2, cursor: "c1" },
      { project_uid: "p", limit: 2, cursor: "c2" },
    ]);
  } finally {
    service.stop();
  }
});

it("types each method by its subject's request and reply", () => {
  // Compile-time checks (tsc runs over the tests); the calls are never made.
  const typed = (): void => {
    // @ts-expect-error: a get takes {uid}, not a title
    void api.meetings.get({ title: "x" });
    // @ts-expect-error: registrants have no approve
    void api.registrants.approve;
    void api.summaries.approve({ uid: "s", revision: 1 }).then((s) => s.approved satisfies boolean);
    void api.meetings.delete({ uid: "m", revision: 1 }).then((d) => d.deleted satisfies true);
  };
  expect(typeof typed).toBe("function");
});
