// The id that ties a request's "request completed" line to the caller's own logs: the caller's,
// from a `Request-Id` or `X-Request-Id` header (the names HTTP gateways already forward), when it
// is 1..128 visible ASCII characters; otherwise one made here. A malformed id is replaced rather
// than refused: it only labels a log line and must never fail a request.
import { randomUUID } from "node:crypto";

export const REQUEST_ID_HEADERS = ["Request-Id", "X-Request-Id"] as const;
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** Reads headers through a getter, so that this module needs no NATS types. */
export function requestIdOf(header: ((name: string) => string) | undefined): string {
  for (const name of REQUEST_ID_HEADERS) {
    const value = header?.(name) ?? "";
    if (VALID_REQUEST_ID.test(value)) return value;
  }
  return randomUUID();
}
