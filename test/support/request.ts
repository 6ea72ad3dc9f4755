// Requests in the service's wire format (docs/CONTRACT.md §3): JSON in, JSON out, and errors
// announced by the micro headers `Nats-Service-Error` / `Nats-Service-Error-Code` next to a JSON
// error body.

import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";

const ERROR_HEADER = "Nats-Service-Error";
const ERROR_CODE_HEADER = "Nats-Service-Error-Code";

export interface Reply<T = unknown> {
  /** `Nats-Service-Error-Code` as a number; 200 when the reply carries no error header. */
  status: number;
  /** The parsed JSON payload; `undefined` for an empty payload. */
  body: T;
  /** Every reply header (first value of each). */
  headers: Record<string, string>;
  /** `Nats-Service-Error`, when present. */
  errorHeader?: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Default 5000 ms. */
  timeoutMs?: number;
}

function encodeBody(body: unknown): string | Uint8Array {
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  if (body === undefined) return "";
  return JSON.stringify(body);
}

/**
 * Sends `body` (an object is sent as JSON, a string or bytes as they are) and decodes the reply.
 * `T` is what the caller expects the body to be; it is not checked.
 */
export async function request<T = unknown>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  options: RequestOptions = {},
): Promise<Reply<T>> {
  const hdrs = natsHeaders();
  for (const [name, value] of Object.entries(options.headers ?? {})) hdrs.set(name, value);
  const msg = await nc.request(subject, encodeBody(body), {
    timeout: options.timeoutMs ?? 5000,
    ...(options.headers === undefined ? {} : { headers: hdrs }),
  });

  const replyHeaders: Record<string, string> = {};
  for (const name of msg.headers?.keys() ?? []) {
    replyHeaders[name] = msg.headers?.get(name) ?? "";
  }
  const errorHeader = msg.headers?.has(ERROR_HEADER) ? msg.headers.get(ERROR_HEADER) : undefined;
  const codeHeader = msg.headers?.has(ERROR_CODE_HEADER)
    ? msg.headers.get(ERROR_CODE_HEADER)
    : undefined;
  const status = codeHeader === undefined ? 200 : Number(codeHeader);

  const text = msg.data.length === 0 ? "" : msg.string();
  let parsed: unknown;
  if (text !== "") {
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${subject} replied with non-JSON (status ${status}): ${text}`, {
        cause: err,
      });
    }
  }

  const reply: Reply<T> = { status, body: parsed as T, headers: replyHeaders };
  if (errorHeader !== undefined) reply.errorHeader = errorHeader;
  return reply;
}

/** `request`, for replies that must succeed: anything but 200 throws with subject, status and body. */
export async function ok<T = unknown>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  options: RequestOptions = {},
): Promise<T> {
  const reply = await request<T>(nc, subject, body, options);
  if (reply.status !== 200) {
    const detail = reply.errorHeader === undefined ? "" : ` (${reply.errorHeader})`;
    throw new Error(
      `${subject} replied ${reply.status}${detail}: ${JSON.stringify(reply.body, null, 2)}`,
    );
  }
  return reply.body;
}

/** A list reply (docs/CONTRACT.md §3 "List"). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Every item of a list, following `next_cursor` page by page with `limit` items a page. */
export async function listAllPages<T>(
  nc: NatsConnection,
  subject: string,
  filter: Record<string, unknown>,
  { limit, timeoutMs }: { limit: number; timeoutMs?: number },
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await ok<Page<T>>(
      nc,
      subject,
      { ...filter, limit, ...(cursor === null ? {} : { cursor }) },
      timeoutMs === undefined ? {} : { timeoutMs },
    );
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return items;
}
