// What every entity write carries besides its value, for the outbox (src/outbox/): the buckets'
// streams are the outbox, and a stream message alone does not say whether it made or changed its
// key, which value it replaced, or on whose behalf it was written. Written by kv-repository.ts
// (every create, update and delete), read back by the outbox feed; other readers of the buckets
// may ignore them. They hold the caller's token: see docs/SECURITY.md.
import type { MsgHdrs } from "@nats-io/nats-core";

export type StoredChange = "created" | "updated" | "deleted";

/** Who a write is made for: the request being served, when there is one. */
/** Who a write is made for: the caller of the request being served (request-scope.ts). */
export interface WriteOrigin {
  /** The request's `Authorization` header ("Bearer <jwt>"), when it carried one. */
  authorization?: string;
  principal: string;
  username?: string;
  email?: string;
}

export const CHANGE_HEADERS = {
  change: "Lfx-Change",
  /** The revision the write replaced (updates and deletes at a revision). */
  previousRevision: "Lfx-Previous-Revision",
  authorization: "Lfx-Authorization",
  principal: "Lfx-Principal",
} as const;

export function stampChange(
  header: MsgHdrs,
  change: StoredChange,
  expected: number | undefined,
  origin: WriteOrigin | undefined,
): void {
  header.set(CHANGE_HEADERS.change, change);
  if (expected !== undefined && expected > 0) {
    header.set(CHANGE_HEADERS.previousRevision, `${expected}`);
  }
  if (origin?.authorization !== undefined) {
    header.set(CHANGE_HEADERS.authorization, origin.authorization);
  }
  if (origin?.principal !== undefined) header.set(CHANGE_HEADERS.principal, origin.principal);
}

export interface ReadChange {
  /** Absent on writes made without these headers (other writers, older versions). */
  change: StoredChange | undefined;
  previousRevision: number | undefined;
  /** What the headers carry of the origin: the token and the principal. */
  origin: { authorization?: string; principal?: string };
}

export function readChange(header: MsgHdrs | undefined): ReadChange {
  const change = header?.get(CHANGE_HEADERS.change);
  const previous = Number(header?.get(CHANGE_HEADERS.previousRevision) ?? "");
  const authorization = header?.get(CHANGE_HEADERS.authorization) ?? "";
  const principal = header?.get(CHANGE_HEADERS.principal) ?? "";
  return {
    change:
      change === "created" || change === "updated" || change === "deleted" ? change : undefined,
    previousRevision: Number.isInteger(previous) && previous > 0 ? previous : undefined,
    origin: {
      ...(authorization === "" ? {} : { authorization }),
      ...(principal === "" ? {} : { principal }),
    },
  };
}
