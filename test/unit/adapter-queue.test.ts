// The adapter's deadline counts from a request's arrival, time waiting for a slot included: when
// storage stalls and requests queue behind MAX_IN_FLIGHT, one whose deadline has passed in line
// is answered with a 503 at its deadline and never run, and the slot of a request answered at its
// deadline stays taken until its handler has finished (docs/CONTRACT.md §1 "lost connection", §3
// 503).
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

it("answers a request that waited in line past its deadline with 503, without running it", async () => {
  const order: string[] = [];
  let runs = 0;
  let finishSlowHandler = () => {};
  const slowEndpoint = {
    subject: "lfx.meetings.get",
    async handle() {
      runs += 1;
      // Held until every request has been answered: no wall-clock margin decides the outcome.
      await new Promise<void>((resolve) => (finishSlowHandler = resolve));
      order.push("handler finished");
      return { uid: "u" };
    },
  } as unknown as AnyEndpoint;
  const schema = { id: "s", title: "S", bundled: {}, validate: () => [] } as CompiledSchema;
  const limit = pLimit(1);
  const deps: AdapterDeps = {
    log: createLogger("silent"),
    stats: new EndpointStats(),
    limit,
    idempotency: undefined as unknown as IdempotentCreates,
    newUid: () => "u",
    requestDeadlineMs: 50,
    auth: { authenticator: localAuthenticator("local-dev"), checker: null },
  };
  const handler = createMessageHandler(slowEndpoint, schema, deps);
  const answers: number[] = [];
  const message = {
    data: new TextEncoder().encode("{}"),
    headers: undefined,
    respond: () => order.push("answered 200") > 0 && answers.push(200) > 0,
    respondError: (code: number) => order.push(`answered ${code}`) > 0 && answers.push(code) > 0,
  } as unknown as ServiceMsg;
  for (let i = 0; i < 3; i += 1) handler(message);
  await until(() => answers.length === 3, { timeoutMs: 5000 });
  // The slot is still held by the first request's handler: the deadline reply does not free it.
  expect(limit.activeCount).toBe(1);
  expect(limit.pendingCount).toBe(2);
  finishSlowHandler();
  await until(() => limit.activeCount + limit.pendingCount === 0, { timeoutMs: 5000 });

  // The first ran and missed its deadline; the two behind it were answered at their deadline
  // while still in line, and were never run when their turn came.
  expect(order).toEqual(["answered 503", "answered 503", "answered 503", "handler finished"]);
  expect(runs).toBe(1);
});
