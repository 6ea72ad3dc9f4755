// The one adapter between NATS messages and handlers: token -> bytes -> JSON -> schema -> access
// check -> handler -> list filter -> reply. It is the only code that touches a message. The
// services framework does not await handlers and an async throw would kill the process
// (docs/MEASUREMENTS.md "The services framework does not await handlers"), so everything here is
// caught, every request gets exactly one reply, statistics are counted here, and one log line is
// written per request.
import { Match } from "@nats-io/nats-core";
import type { ServiceMsg } from "@nats-io/services";
import type { LimitFunction } from "p-limit";
import type { AccessChecker } from "../auth/access-check.js";
import { ANY_CALLER, checkLine, type ListItem, type Relation } from "../auth/access.js";
import type { Authenticator } from "../auth/tokens.js";
import {
  AppError,
  forbidden,
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
  auth: RequestAuth;
}

/** How callers are known and checked (docs/CONTRACT.md §8). */
export interface RequestAuth {
  authenticator: Authenticator;
  /** Null when AUTH_MODE=off: no endpoint's access declaration is evaluated. */
  checker: AccessChecker | null;
}

const AUTHORIZATION_HEADER = "Authorization";

/** The `Authorization` header, whatever the case of its name. */
function authorizationOf(msg: ServiceMsg): string | undefined {
  if (msg.headers?.has(AUTHORIZATION_HEADER, Match.IgnoreCase) !== true) return undefined;
  return msg.headers.get(AUTHORIZATION_HEADER, Match.IgnoreCase);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses a request body: UTF-8 JSON whose top level is an object (docs/CONTRACT.md §3). */
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

  /** Throws `forbidden` unless the caller holds what the request needs. */
  async function authorize(checker: AccessChecker, request: never, caller: Caller) {
    const requirement = await endpoint.access.request(request, caller);
    if (requirement === ANY_CALLER) return;
    const [allowed] = await checker.check(caller.principal, [requirement]);
    if (allowed !== true) throw forbidden(checkLine(requirement, caller.principal));
  }

  /** A list page without the items the caller may not see, all asked about in one batch. */
  async function visibleItems(checker: AccessChecker, reply: object, caller: Caller) {
    const itemRule = endpoint.access.item?.bind(endpoint.access);
    const items = (reply as { items?: unknown }).items;
    if (itemRule === undefined || !Array.isArray(items)) return reply;
    const requirements = (items as ListItem[]).map(itemRule);
    const asked = requirements.filter((r): r is Relation => r !== ANY_CALLER);
    const verdicts = await checker.check(caller.principal, asked);
    let next = 0;
    const shown = requirements.map((r) => r === ANY_CALLER || verdicts[next++] === true);
    return { ...reply, items: items.filter((_, i) => shown[i]) };
  }

  /** `touched.uid`: the request's `uid`, then the entity replied, for the log line. */
  async function handle(
    msg: ServiceMsg,
    requestLog: Logger,
    caller: Caller,
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
    const checker = deps.auth.checker;
    if (checker === null) return run(msg, request, requestLog, body);
    await authorize(checker, request, caller);
    return visibleItems(checker, await run(msg, request, requestLog, body), caller);
  }

  function run(
    msg: ServiceMsg,
    request: never,
    requestLog: Logger,
    body: Record<string, unknown>,
  ): Promise<object> {
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
      findCreated: (uid) => findCreated(uid, requestLog),
    });
  }

  /**
   * Sends the one reply of a request, logs it and counts it in the endpoint's stats. `touched`:
   * the uid the request named or made, for the log line.
   */
  function answer(
    msg: ServiceMsg,
    arrived: number,
    outcome: Outcome,
    touched: { uid?: unknown },
  ): void {
    if ("reply" in outcome && "uid" in outcome.reply) touched.uid = outcome.reply.uid;
    const durationMs = performance.now() - arrived;
    let failure: WireError | undefined;
    try {
      if ("reply" in outcome) msg.respond(JSON.stringify(outcome.reply));
      else {
        failure = toWireError(outcome.error);
        msg.respondError(failure.status, failure.message, JSON.stringify(failure.body));
      }
    } catch (err) {
      // Only a failure to publish the reply itself can get here (e.g. connection closed).
      log.error({ err, subject: endpoint.subject }, "reply could not be sent");
    }
    const line = {
      subject: endpoint.subject,
      status: failure?.status ?? 200,
      duration_ms: round(durationMs),
      request_id: requestIdOf(msg.headers && ((name) => msg.headers?.get(name) ?? "")),
      ...(typeof touched.uid === "string" ? { uid: touched.uid } : {}),
    };
    if (failure === undefined) {
      accessLog.info(line, "request completed");
      deps.stats.record(name, durationMs);
      return;
    }
    const cause = "error" in outcome ? outcome.error : undefined;
    if (failure.status >= 500) log.error({ ...line, err: causeOf(cause) }, "request failed");
    else if (failure.status === 401 || failure.status === 403) {
      // Why a caller was turned away is for the operator only (the reply says nothing of it).
      accessLog.info(
        { ...line, error: failure.message, reason: String(causeOf(cause)) },
        "request completed",
      );
    } else accessLog.info({ ...line, error: failure.message }, "request completed");
    deps.stats.record(name, durationMs, `${failure.status}:${failure.message}`);
  }

  /**
   * Every request is answered by its deadline, counted from its arrival: with the handler's
   * reply, or with `unavailable` when the deadline comes first, also while it still waits in line
   * for a slot. The slot stays taken until the handler has really finished (a reply sent at the
   * deadline does not stop the work it started), so MAX_IN_FLIGHT bounds the work in progress
   * during a storage stall and shutdown waits for it. A request whose deadline passed in line is
   * never run: its caller has given up on it.
   */
  return (msg) => {
    const arrived = performance.now();
    const touched: { uid?: unknown } = {};
    let answered = false;
    const answerOnce = (outcome: Outcome) => {
      if (answered) return;
      answered = true;
      clearTimeout(deadline);
      answer(msg, arrived, outcome, touched);
    };
    const deadline = setTimeout(
      () => answerOnce({ error: unavailable("the request took too long; retry") }),
      deps.requestDeadlineMs,
    );
    void deps.limit(async () => {
      if (answered) return;
      try {
        // The token is verified before anything else happens (docs/CONTRACT.md §8).
        const caller = await deps.auth.authenticator.authenticate(authorizationOf(msg));
        const reply = await runInRequestScope({ caller }, () => handle(msg, log, caller, touched));
        answerOnce({ reply });
      } catch (error) {
        if (answered) log.debug({ err: error }, "late handler failure");
        answerOnce({ error });
      }
    });
  };
}

type Outcome = { reply: object } | { error: unknown };

function causeOf(err: unknown): unknown {
  return err instanceof AppError && err.cause !== undefined ? err.cause : err;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
