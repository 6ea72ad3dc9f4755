// The one adapter between NATS messages and handlers: bytes -> JSON -> schema -> handler -> reply.
// It is the only code that touches a message. The services framework does not await handlers and
// an async throw would kill the process (FACTS.md), so everything here is caught, every request
// gets exactly one reply, statistics are counted here, and one log line is written per request.
import type { ServiceMsg } from "@nats-io/services";
import type { LimitFunction } from "p-limit";
import {
  AppError,
  invalidRequest,
  toWireError,
  unavailable,
  type ErrorDetail,
  type WireError,
} from "../errors.js";
import type { Logger } from "../logger.js";
import { runInRequestScope, type Caller } from "../request-scope.js";
import type { AnyEndpoint, RequestContext } from "./endpoint.js";
import { endpointName } from "./endpoint.js";
import {
  IDEMPOTENCY_KEY_HEADER,
  isValidIdempotencyKey,
  type IdempotentCreates,
} from "./idempotency.js";
import { requestIdOf } from "./request-id.js";
import type { CompiledSchema } from "./schemas.js";
import { compileUtcNormalizer } from "./utc-timestamps.js";
import type { EndpointStats } from "./stats.js";

export interface AdapterDeps {
  log: Logger;
  stats: EndpointStats;
  /** Bounds the requests one instance works on at once. */
  limit: LimitFunction;
  idempotency: IdempotentCreates;
  newUid: () => string;
  /** A reply is sent by then at the latest (`unavailable` if the handler is still busy). */
  requestDeadlineMs: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses a request body: UTF-8 JSON whose top level is an object (CONTRACT §3). */
export function parseRequest(data: Uint8Array): Record<string, unknown> {
  if (data.length === 0) throw invalidRequest("request body is empty: expected a JSON object");
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    throw invalidRequest("request body is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the body, which may hold personal data, into the logs.
    throw invalidRequest("request body is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalidRequest("request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** "invalid request: /title is required; /foo is not allowed" — names every field at fault. */
export function schemaViolation(details: readonly ErrorDetail[]): AppError {
  const summary = details
    .map((d) => `${d.path === "" ? "(body)" : d.path} ${d.message}`)
    .join("; ");
  return invalidRequest(`invalid request: ${summary}`, details);
}

export function createMessageHandler(
  endpoint: AnyEndpoint,
  schema: CompiledSchema,
  deps: AdapterDeps,
): (msg: ServiceMsg) => void {
  const name = endpointName(endpoint.subject);
  const normalizeTimestamps = compileUtcNormalizer(schema.bundled);
  const log = deps.log.child({ endpoint: name });
  // The "request completed" line holds only subject, status, duration, ids (the request id and the
  // uid touched) and an error message that never repeats request values, so it skips redaction,
  // which cost half of each line (bench/).
  const accessLog = deps.log.child({ endpoint: name }, { redact: [] });

  /** `touched.uid`: the request's `uid`, then the entity replied, for the log line. */
  async function handle(
    msg: ServiceMsg,
    requestLog: Logger,
    touched: { uid?: unknown },
  ): Promise<object> {
    const body = parseRequest(msg.data);
    const violations = schema.validate(body);
    if (violations.length > 0) throw schemaViolation(violations);
    // Only once validated: the schema bounds a uid to one short key token.
    touched.uid = body["uid"];
    normalizeTimestamps?.(body);
    // The schema has just proven the shape that the generated type describes.
    const request = body as never;
    const idempotencyKey = msg.headers?.get(IDEMPOTENCY_KEY_HEADER) ?? "";
    const findCreated = endpoint.findCreated;
    if (findCreated === undefined || idempotencyKey === "") {
      // Drawn only by the handlers that create something, not by every read.
      let uid: string | undefined;
      const ctx: RequestContext = {
        log: requestLog,
        get newUid() {
          return (uid ??= deps.newUid());
        },
      };
      return endpoint.handle(request, ctx);
    }
    if (!isValidIdempotencyKey(idempotencyKey)) {
      throw invalidRequest(`${IDEMPOTENCY_KEY_HEADER} must be 1..128 visible ASCII characters`, [
        { path: "", message: `header ${IDEMPOTENCY_KEY_HEADER} is malformed` },
      ]);
    }
    return deps.idempotency.execute({
      subject: endpoint.subject,
      key: idempotencyKey,
      body,
      freshUid: deps.newUid(),
      run: (uid) => endpoint.handle(request, { log: requestLog, newUid: uid }),
      findCreated,
    });
  }

  /**
   * The handler's result, or `unavailable` once the request's deadline (counted from its arrival,
   * so time spent waiting for a slot counts) has passed. A handler that outlives the deadline
   * still finishes; its late failure is only logged.
   */
  function withDeadline(work: Promise<object>, remainingMs: number): Promise<object> {
    work.catch((err: unknown) => log.debug({ err }, "late handler failure"));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable("the request took too long; retry")),
        remainingMs,
      );
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  async function serve(msg: ServiceMsg, arrived: number): Promise<void> {
    let failure: { wire: WireError; cause: unknown } | undefined;
    const touched: { uid?: unknown } = {};
    try {
      const remainingMs = deps.requestDeadlineMs - (performance.now() - arrived);
      // Shed a request that waited out its deadline in line: its caller has given up on it.
      if (remainingMs <= 0) throw unavailable("the service is overloaded; retry");
      const caller: Caller = { principal: "local-dev" };
      const reply = await withDeadline(
        runInRequestScope({ caller }, () => handle(msg, log, touched)),
        remainingMs,
      );
      if ("uid" in reply) touched.uid = reply.uid;
      msg.respond(JSON.stringify(reply));
    } catch (err) {
      const wire = toWireError(err);
      failure = { wire, cause: err };
      msg.respondError(wire.status, wire.message, JSON.stringify(wire.body));
    }
    const durationMs = performance.now() - arrived;
    const line = {
      subject: endpoint.subject,
      status: failure?.wire.status ?? 200,
      duration_ms: round(durationMs),
      request_id: requestIdOf(msg.headers && ((name) => msg.headers?.get(name) ?? "")),
      ...(typeof touched.uid === "string" ? { uid: touched.uid } : {}),
    };
    if (failure === undefined) {
      accessLog.info(line, "request completed");
      deps.stats.record(name, durationMs);
      return;
    }
    const { wire, cause } = failure;
    if (wire.status >= 500) log.error({ ...line, err: causeOf(cause) }, "request failed");
    else accessLog.info({ ...line, error: wire.message }, "request completed");
    deps.stats.record(name, durationMs, `${wire.status}:${wire.message}`);
  }

  return (msg) => {
    const arrived = performance.now();
    deps
      .limit(() => serve(msg, arrived))
      .catch((err: unknown) => {
        // Only a failure to publish the reply itself can get here (e.g. connection closed).
        log.error({ err, subject: endpoint.subject }, "reply could not be sent");
      });
  };
}

function causeOf(err: unknown): unknown {
  return err instanceof AppError && err.cause !== undefined ? err.cause : err;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
