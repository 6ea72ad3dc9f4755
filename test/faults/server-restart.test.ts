// Faults: the nats-server is SIGKILLed and restarted under a load of creates. The service process
// (src/main.ts, its real connection options) must come back without a restart: serve creates
// again, list every acknowledged meeting, and leave the buckets
// consistent after a repair at most. Figures go to docs/RELIABILITY.md.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { meetingInput } from "../support/builders.js";
import { isSuccess, Load, longestStall, tally } from "../support/load.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { request } from "../support/request.js";
import {
  ensureBuilt,
  killAllServiceProcesses,
  runConsistencyCheck,
  startServiceProcess,
  type ServiceProcess,
} from "../support/service-process.js";
import { until } from "../support/until.js";
import { failureCauses, listAll, report } from "../support/fault-checks.js";

let server: NatsServerHandle;
let service: ServiceProcess;
let client: NatsConnection;

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  service = await startServiceProcess({ NATS_URL: server.url, KV_TIMEOUT_MS: "1000" });
  client = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
}, 180_000);

afterAll(async () => {
  killAllServiceProcesses();
  await client?.close();
  await server?.stop();
});

interface Created {
  uid: string;
  revision: number;
}

it("recovers from kill -9 of nats-server under load without a restart; no acknowledged create is lost", async () => {
  const project = randomUUID();
  const load = new Load({
    workers: 8,
    send: (seq) =>
      request(
        client,
        "lfx.meetings.create",
        meetingInput({ project_uid: project, title: `m${seq}` }),
        {
          headers: { "Idempotency-Key": `restart-${seq}-${randomUUID()}` },
          timeoutMs: 3000,
        },
      ),
  }).start();
  await load.successes(100, 20_000);

  const killedAt = Date.now();
  await server.kill();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await server.restart();
  const restartedAt = Date.now();
  await load.successes(1, 30_000);
  const recoveredAt = load.outcomes.filter((o) => isSuccess(o) && o.doneAt > restartedAt)[0]!
    .doneAt;
  await load.successes(100, 20_000);
  const outcomes = await load.stop();

  report("server kill -9 and restart", {
    outcomes: tally(outcomes),
    during_outage: tally(load.between(killedAt, recoveredAt)),
    outage_ms: restartedAt - killedAt,
    first_success_after_restart_ms: recoveredAt - restartedAt,
    longest_stall_ms: longestStall(outcomes, killedAt, Date.now()),
    causes: failureCauses(service.logLines(), killedAt),
  });

  // Nothing but successes, 503s with a hint, and (while the server was down) silence or no
  // responders; never an internal error.
  for (const o of outcomes) {
    if (o.kind === "reply" && o.status !== 200) {
      expect(o.status).toBe(503);
      expect(o.retryAfterMs).toBeGreaterThan(0);
    }
  }
  expect(service.child.exitCode).toBeNull();

  // Every acknowledged create is stored, with its revision, and listed.
  const acked = outcomes.filter(isSuccess).map((o) => o.body as Created);
  const listStarted = Date.now();
  const listed = await until(() => listAll(client, { project_uid: project }), {
    timeoutMs: 20_000,
    message: "meetings.list to answer after the restart",
  });
  report("server restart: first complete list", { after_ms: Date.now() - listStarted });
  const listedRevisions = new Map(listed.map((m) => [m.uid, m.revision]));
  for (const meeting of acked) expect(listedRevisions.get(meeting.uid)).toBe(meeting.revision);

  // Consistent, after a repair at most.
  const check = await runConsistencyCheck(server.url, "--grace-seconds", "0");
  report("consistency after server restart", { exit: check.code, findings: check.stdout });
  if (check.code !== 0) {
    expect((await runConsistencyCheck(server.url, "--repair", "--grace-seconds", "0")).code).toBe(
      0,
    );
    expect((await runConsistencyCheck(server.url, "--grace-seconds", "0")).code).toBe(0);
  }
}, 150_000);
