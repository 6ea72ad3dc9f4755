// The service's error taxonomy (docs/CONTRACT.md §3): seven codes, one status each, and the one
// place that turns any thrown value into the wire error. Handlers and stores throw AppError;
// everything else that reaches the adapter becomes `internal`, with the original kept as `cause`
// for the log.

export type ErrorCode =
  | "invalid_request"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unavailable"
  | "internal";

/** Exhaustive: a new code without a status does not compile. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/** One schema or rule violation: a JSON Pointer into the request and what is wrong there. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** Default back-off hint for `unavailable`: long enough for a JetStream leader election to start. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

export class AppError extends Error {
  override readonly name = "AppError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: readonly ErrorDetail[],
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }

  readonly retryAfterMs: number | undefined;

  get status(): number {
    return STATUS_BY_CODE[this.code];
  }
}

export function invalidRequest(message: string, details?: readonly ErrorDetail[]): AppError {
  return new AppError("invalid_request", message, details);
}

/** A rule violation on one field, reported like a schema violation. */
export function invalidField(path: string, message: string): AppError {
  return invalidRequest(`${path}: ${message}`, [{ path, message }]);
}

/**
 * No usable token (docs/CONTRACT.md §8). The message is the same whatever was wrong with it, so
 * that a caller learns nothing that helps forge one; the reason goes to the log only, as `cause`.
 */
export function unauthenticated(reason: string): AppError {
  return new AppError(
    "unauthenticated",
    "a valid Authorization bearer token is required",
    undefined,
    {
      cause: reason,
    },
  );
}

/**
 * The caller lacks the relation the endpoint needs (docs/CONTRACT.md §8); the check itself is
 * logged.
 */
export function forbidden(check: string): AppError {
  return new AppError("forbidden", "the caller lacks the relation this request needs", undefined, {
    cause: check,
  });
}

export function notFound(entity: string, uid: string): AppError {
  return new AppError("not_found", `${entity} ${uid} not found`);
}

export function conflict(message: string, cause?: unknown): AppError {
  return new AppError("conflict", message, undefined, { cause });
}

export function staleRevision(entity: string, uid: string): AppError {
  return conflict(`${entity} ${uid} was changed by someone else: revision is stale`);
}

export function unavailable(
  message: string,
  cause?: unknown,
  retryAfterMs = DEFAULT_RETRY_AFTER_MS,
): AppError {
  return new AppError("unavailable", message, undefined, { cause, retryAfterMs });
}

export function internal(cause: unknown): AppError {
  return new AppError("internal", "internal error", undefined, { cause });
}

/** Anything thrown, as an AppError: unknown errors become `internal` and keep their cause. */
export function asAppError(err: unknown): AppError {
  return err instanceof AppError ? err : internal(err);
}

export interface WireErrorBody {
  error: {
    status: number;
    code: ErrorCode;
    message: string;
    details?: ErrorDetail[];
    retry_after_ms?: number;
  };
}

export interface WireError {
  status: number;
  /** For the `Nats-Service-Error` header: never a stack trace or an internal message. */
  message: string;
  body: WireErrorBody;
}

export function toWireError(err: unknown): WireError {
  const appError = asAppError(err);
  const { code, status, message, details } = appError;
  const body: WireErrorBody = { error: { status, code, message } };
  if (details !== undefined && details.length > 0) body.error.details = [...details];
  if (code === "unavailable") {
    body.error.retry_after_ms = appError.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
  }
  return { status, message, body };
}
