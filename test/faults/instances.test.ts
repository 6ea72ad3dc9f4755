// Faults: service instances (separate processes, `node dist/main.js`) in one queue group, under a
// load of meeting and registrant creates sent with Idempotency-Keys:
// - one of two instances SIGKILLed: the other serves every request from then on; a request the
//   dead one had taken times out for its caller, whose retry with the same key succeeds without
//   a duplicate; after a repair at most, the invariants hold (registrant_count, index keys);
// - SIGTERM of one of two instances: every request gets a reply (the one stopping finishes what
//   it took, the other takes the rest) and the process exits 0 within 10 s.
import type { NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { isSuccess, Load, longestStall, tally, type Outcome } from "../support/load.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ok, request, type Reply } from "../support/request.js";
import {
  ensureBuilt,
  killAllServiceProcesses,
  runConsistencyCheck,
  startServiceProcess,
} from "../support/service-process.js";
import { connectClient } from "../support/service.js";
import { listAll, report } from "../support/fault-checks.js";

const CALLER_TIMEOUT_MS = 3000;

let server: NatsServerHandle;
let client: NatsConnection;
const project = randomUUID();
const meetings: string[] = [];

interface Sent {
  subject: string;
  body: Record<string, unknown>;
  key: string;
}

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  client = await connectClient(server.url);
}, 180_000);

afterAll(async () => {
  killAllServiceProcesses();
  await client?.close();
  await server?.stop();
});

const start = () => startServiceProcess({ NATS_URL: server.url, KV_TIMEOUT_MS: "1000" });

/** Meeting creates and registrations (into the first meetings) with keys, remembered by seq. */
function mixedLoad(label: string, sent: Map<number, Sent>): Load {
  return new Load({
    workers: 12,
    send: (seq) => {
      const meetingUid = meetings[seq % meetings.length];
      const request_: Sent =
        seq % 3 === 0 || meetingUid === undefined
          ? {
              subject: "lfx.meetings.create",
              body: meetingInput({ project_uid: project, title: `${label} ${seq}` }),
              key: `${label}-${seq}`,
            }
          : {
              subject: "lfx.registrants.create",
              body: { meeting_uid: meetingUid, email: uniqueEmail(label) },
              key: `${label}-${seq}`,
            };
      sent.set(seq, request_);
      return send(request_);
    },
  });
}

function send(sent: Sent): Promise<Reply<unknown>> {
  return request(client, sent.subject, sent.body, {
    headers: { "Idempotency-Key": sent.key },
    timeoutMs: CALLER_TIMEOUT_MS,
  });
}

/** What a client does after a timeout or a 503: the same request with the same key, until done. */
async function retryUntilDone(sent: Sent): Promise<Reply<unknown>> {
  for (let attempt = 0; ; attempt += 1) {
    const reply = await send(sent).catch(() => undefined);
    if ((reply !== undefined && reply.status !== 503) || attempt >= 10) {
      if (reply === undefined) throw new Error(`no reply to ${sent.subject} ${sent.key}`);
      return reply;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

it("one of two instances SIGKILLed under load: the other serves; retries create no duplicates", async () => {
  const [first, second] = [await start(), await start()];
  for (let i = 0; i < 4; i += 1) {
    meetings.push(
      (
        await ok<{ uid: string }>(
          client,
          "lfx.meetings.create",
          meetingInput({ project_uid: project }),
        )
      ).uid,
    );
  }
  const sent = new Map<number, Sent>();
  const load = mixedLoad("kill", sent).start();
  await load.successes(150, 20_000);
  const killedAt = Date.now();
  await first.kill();
  const exitedAt = Date.now();
  await load.successes(150, 20_000);
  const outcomes = await load.stop();

  // Requests the killed instance had taken go unanswered (their callers time out); every
  // request sent after the kill is served by the other instance.
  const inFlightAtKill = outcomes.filter((o) => o.sentAt <= killedAt && o.doneAt > killedAt);
  const sentAfterKill = outcomes.filter((o) => o.sentAt > exitedAt);
  report("instance SIGKILLed under load (1 of 2)", {
    outcomes: tally(outcomes),
    in_flight_at_kill: tally(inFlightAtKill),
    sent_after_kill: tally(sentAfterKill),
    exit_observed_after_ms: exitedAt - killedAt,
    longest_stall_ms: longestStall(outcomes, killedAt, Date.now()),
  });
  expect(tally(sentAfterKill)).toEqual({ "200": sentAfterKill.length });
  expect(second.child.exitCode).toBeNull();

  // Clients retry what failed with the same Idempotency-Key.
  const failed = outcomes.filter((o) => !isSuccess(o));
  const retried = await Promise.all(failed.map((o) => retryUntilDone(sent.get(o.seq) as Sent)));
  expect(retried.map((r) => r.status)).toEqual(failed.map(() => 200));

  // Exactly one entity per key: as many meetings and registrants as requests, none twice.
  const done = [...outcomes.filter(isSuccess), ...retried.map((r) => ({ body: r.body }))];
  const uids = done.map((o) => (o.body as { uid: string }).uid);
  expect(new Set(uids).size).toBe(sent.size);
  const listedMeetings = await listAll(client, { project_uid: project });
  const meetingCreates = [...sent.values()].filter((s) => s.subject === "lfx.meetings.create");
  expect(listedMeetings).toHaveLength(meetingCreates.length + meetings.length);
  let registrants = 0;
  for (const uid of meetings) {
    registrants += (await listAll(client, { meeting_uid: uid }, "lfx.registrants.list")).length;
  }
  expect(registrants).toBe(sent.size - meetingCreates.length);

  // The invariants (registrant_count among them), after a repair at most.
  const check = await runConsistencyCheck(server.url, "--grace-seconds", "0");
  report("consistency after an instance SIGKILL", {
    exit: check.code,
    findings: check.findings,
  });
  if (check.code !== 0) {
    expect((await runConsistencyCheck(server.url, "--repair", "--grace-seconds", "0")).code).toBe(
      0,
    );
    expect((await runConsistencyCheck(server.url, "--grace-seconds", "0")).code).toBe(0);
  }
  for (const uid of meetings) {
    const meeting = await ok<{ registrant_count: number }>(client, "lfx.meetings.get", { uid });
    const listed = await listAll(client, { meeting_uid: uid }, "lfx.registrants.list");
    expect(meeting.registrant_count).toBe(listed.length);
  }
  await second.kill();
}, 120_000);

it("SIGTERM of one of two instances under load: every request is answered; exit 0 within 10 s", async () => {
  const [stopping, staying] = [await start(), await start()];
  const load = mixedLoad("term", new Map()).start();
  await load.successes(150, 20_000);
  const signalledAt = Date.now();
  stopping.child.kill("SIGTERM");
  const exit = await stopping.exitWithin(10_000);
  const exitedAfterMs = Date.now() - signalledAt;
  await load.successes(150, 20_000);
  const outcomes: Outcome[] = await load.stop();
  report("instance SIGTERM under load (1 of 2)", {
    outcomes: tally(outcomes),
    exit_after_ms: exitedAfterMs,
    served_by_stopping_after_signal: stopping
      .logLines()
      .filter(
        (l) => l["msg"] === "request completed" && Date.parse(String(l["time"])) >= signalledAt,
      ).length,
  });
  expect(exit).toEqual({ code: 0, signal: null });
  expect(exitedAfterMs).toBeLessThan(10_000);
  expect(tally(outcomes)).toEqual({ "200": outcomes.length });
  expect(staying.child.exitCode).toBeNull();
  await staying.kill();
}, 120_000);
