// What every handler module receives from the composition root (service.ts).
import type { PlatformLookups } from "../platform/lookups.js";
import type { StoredRegistrant } from "../store/resources/registrants.js";
import type { Repositories } from "../store/resources/repositories.js";

/** Calendar invitations, as requests use them (src/invitations/invitations.ts). */
export interface InvitationSender {
  /** Queues the meeting's current invitation to `registrant`; delivery goes on in the background. */
  resend(registrant: StoredRegistrant): Promise<void>;
}

export interface HandlerDeps {
  repos: Repositories;
  now: () => Date;
  /** The largest reply the connection can send; lists cut pages to fit it. */
  maxReplyBytes: number;
  /** A new uid for entities a request makes besides the one it creates (sessions, invitations). */
  newId: () => string;
  /** Base of a meeting's `public_link`. */
  publicLinkBaseUrl: string;
  /** The platform's project, committee and auth services; undefined with PLATFORM_LOOKUPS=off. */
  platform: PlatformLookups | undefined;
  invitations: InvitationSender;
}

/**
 * `create` made once per set of dependencies, that is once per service instance: for state that
 * every handler module of the instance must share (a group commit batches the writes of all of
 * them to one entity).
 */
export function onePerInstance<T>(create: (deps: HandlerDeps) => T): (deps: HandlerDeps) => T {
  const made = new WeakMap<HandlerDeps, T>();
  return (deps) => {
    let value = made.get(deps);
    if (value === undefined) {
      value = create(deps);
      made.set(deps, value);
    }
    return value;
  };
}
