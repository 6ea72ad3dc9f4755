// What a failed call throws: one error class for the service's error replies (docs/CONTRACT.md §3)
// and for the two failures NATS reports before any reply (no instance listening, no reply in time),
// so a caller catches one type and switches on `code`.

/** The service's codes (docs/CONTRACT.md §3), then the client's own two. */
export type ErrorCode =
  | "invalid_request"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unavailable"
  | "internal"
  /** No reply within the timeout: the request may or may not have been carried out. */
  | "timeout"
  /** No instance of the service is subscribed: nothing was carried out. */
  | "no_responders";

export interface ErrorDetail {
  path: string;
  message: string;
}

/** The JSON body of an error reply. */
export interface WireErrorBody {
  error: {
    status: number;
    code: string;
    message: string;
    details?: ErrorDetail[];
    retry_after_ms?: number;
  };
}

export class MeetingServiceError extends Error {
  override readonly name = "MeetingServiceError";
  /** The reply's status; 504 for `timeout` and 503 for `no_responders`, which have no reply. */
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: readonly ErrorDetail[] | undefined;
  /** The service's hint for when to retry (503 replies). */
  readonly retryAfterMs: number | undefined;
  readonly subject: string;
  /** The service's message alone (`message` also names subject, status and code). */
  readonly reason: string;

  constructor(
    subject: string,
    fields: {
      status: number;
      code: ErrorCode;
      message: string;
      details?: readonly ErrorDetail[] | undefined;
      retryAfterMs?: number | undefined;
    },
    options?: ErrorOptions,
  ) {
    super(`${subject}: ${fields.status} ${fields.code}: ${fields.message}`, options);
    this.subject = subject;
    this.reason = fields.message;
    this.status = fields.status;
    this.code = fields.code;
    this.details = fields.details;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** The body the service sent, as it sent it (the CLI prints it). */
  toJSON(): WireErrorBody {
    return {
      error: {
        status: this.status,
        code: this.code,
        message: this.reason,
        ...(this.details === undefined ? {} : { details: [...this.details] }),
        ...(this.retryAfterMs === undefined ? {} : { retry_after_ms: this.retryAfterMs }),
      },
    };
  }
}

const KNOWN_CODES = new Set<string>([
  "invalid_request",
  "unauthenticated",
  "forbidden",
  "not_found",
  "conflict",
  "unavailable",
  "internal",
]);

/** The error of a reply that carried `Nats-Service-Error-Code`. */
export function errorFromReply(
  subject: string,
  status: number,
  headerMessage: string,
  body: unknown,
): MeetingServiceError {
  const error = (body as Partial<WireErrorBody> | undefined)?.error;
  const code = error !== undefined && KNOWN_CODES.has(error.code) ? error.code : codeOf(status);
  return new MeetingServiceError(subject, {
    status,
    code: code as ErrorCode,
    message: error?.message ?? headerMessage,
    details: error?.details,
    retryAfterMs: typeof error?.retry_after_ms === "number" ? error.retry_after_ms : undefined,
  });
}

/** For a reply without a body the service would send (e.g. from a proxy in between). */
function codeOf(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "invalid_request";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 503:
      return "unavailable";
    default:
      return "internal";
  }
}
