// The adapter's deadline counts from a request's arrival, time waiting for a slot included: when
// storage stalls and requests queue behind MAX_IN_FLIGHT, one whose deadline has passed in line
// is answered with a 503 and never run (CONTRACT §1 "lost connection", §3 503).
import type { ServiceMsg } from "@nats-io/services";
import pLimit from "p-limit";
import { createLogger } from "../../src/logger.js";
import { localAuthenticator } from "../../src/auth/tokens.js";
import { createMessageHandler, type AdapterDeps } from "../../src/rpc/adapter.js";
import type { AnyEndpoint } from "../../src/rpc/endpoint.js";
import type { IdempotentCreates } from "../../src/rpc/idempotency.js";
import type { CompiledSchema } from "../../src/rpc/schemas.js";
import { EndpointStats } from "../../src/rpc/stats.js";
import { until } from "../support/until.js";

interface Answer {
  status: number;
  at: number;
}

function message(answers: Answer[], started: number): ServiceMsg {
  const msg = {
    data: new TextEncoder().encode("{}"),
    headers: undefined,
    respond: () => answers.push({ status: 200, at: Date.now() - started }) > 0,
    respondError: (code: number) => answers.push({ status: code, at: Date.now() - started }) > 0,
  };
  return msg as unknown as ServiceMsg;
}

it("answers a request that waited in line past its deadline with 503, without running it", async () => {
  let runs = 0;
  const slowEndpoint = {
    subject: "lfx.meetings.get",
    async handle() {
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return { uid: "u" };
    },
  } as unknown as AnyEndpoint;
  const schema = { id: "s", title: "S", bundled: {}, validate: () => [] } as CompiledSchema;
  const deps: AdapterDeps = {
    log: createLogger("silent"),
    stats: new EndpointStats(),
    limit: pLimit(1),
    idempotency: undefined as unknown as IdempotentCreates,
    newUid: () => "u",
    // Margins wide enough for a loaded machine: a stall of the event loop must not decide.
    requestDeadlineMs: 300,
    auth: { authenticator: localAuthenticator("local-dev"), checker: null },
  };
  const handler = createMessageHandler(slowEndpoint, schema, deps);
  const answers: Answer[] = [];
  const started = Date.now();
  for (let i = 0; i < 3; i += 1) handler(message(answers, started));
  await until(() => answers.length === 3, { timeoutMs: 5000 });

  // The first runs and misses its deadline; the two behind it are answered when their turn
  // comes, already late, and never run.
  expect(answers.map((a) => a.status)).toEqual([503, 503, 503]);
  expect(runs).toBe(1);
  // Each answered when its turn came, not after its handler would have run.
  for (const answer of answers) expect(answer.at).toBeLessThan(1200);
});
