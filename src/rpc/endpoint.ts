// What a handler module exports: endpoints keyed by subject, each a typed use case. Handlers get
// the validated request and return the reply object or throw an AppError; they never see a NATS
// message, a header or JSON text (the adapter does that, adapter.ts).
import type { Access } from "../auth/access.js";
import type { Logger } from "../logger.js";
import type { RequestBySubject, Subject } from "../generated/schema-types.js";

export interface RequestContext {
  log: Logger;
  /**
   * The uid a create gives its new entity. The adapter chooses it so that a retry with the same
   * Idempotency-Key reuses it: a create whose first attempt was stored is found, not repeated.
   */
  newUid: string;
}

export interface Endpoint<S extends Subject = Subject> {
  subject: S;
  /**
   * Who may call it (docs/CONTRACT.md §8); required, so that no endpoint is left open by omission.
   */
  access: Access<RequestBySubject[S]>;
  handle(request: RequestBySubject[S], ctx: RequestContext): Promise<object>;
  /**
   * Creates only, which makes the endpoint honour `Idempotency-Key` (docs/CONTRACT.md §3): the
   * reply of the entity an earlier attempt created under `uid`, or null when that attempt stored
   * nothing. It may finish what that attempt left undone (a registrant's commit key).
   */
  findCreated?: (uid: string, log: Logger) => Promise<object | null>;
}

export type AnyEndpoint = { [S in Subject]: Endpoint<S> }[Subject];

/** Identity, for inference: `endpoint({ subject: "lfx.meetings.get", handle: ... })`. */
export function endpoint<S extends Subject>(definition: Endpoint<S>): Endpoint<S> {
  return definition;
}

/** `lfx.meeting-settings.get` -> `meeting-settings-get` (micro endpoint names allow no dots). */
export function endpointName(subject: string): string {
  return subject.replace(/^lfx\./, "").replaceAll(".", "-");
}
