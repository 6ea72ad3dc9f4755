// The registrant create and delete use cases, shared by `lfx.registrants.*` (registrants.ts) and
// the committee membership sync (committee-members.ts), so that a committee member becomes a
// registrant exactly as a direct registration does: the same email claim, index keys, count and
// events. Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import { conflict, invalidField, notFound } from "../errors.js";
import type { RegistrantsCreateRequest } from "../generated/schema-types.js";
import type { Logger } from "../logger.js";
import { Claims, type ClaimGuard } from "../store/kv/claims.js";
import { directKey } from "../store/kv/keys.js";
import type { Versioned } from "../store/kv/kv-repository.js";
import {
  registrantEmailClaimKey,
  registrantKey,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import { deleteIndexed } from "./entity-writes.js";
import { checkOccurrenceOf } from "./meeting-view.js";
import { registrantCount } from "./registrant-count.js";
import { deleteRsvpsOfRegistrant } from "./rsvps.js";
import type { HandlerDeps } from "./deps.js";

/** Emails are stored and compared lower-case (docs/CONTRACT.md §5). */
export function normalizeEmail(email: string): string {
  return email.toLowerCase();
}

/** Rules on the whole registrant that the request schema cannot see after a merge. */
export function checkRegistrantRules(registrant: StoredRegistrant): void {
  if (registrant.type === "committee" && registrant.committee_uid === undefined) {
    throw invalidField("/committee_uid", "is required when type is committee");
  }
  if (registrant.type !== "committee" && registrant.committee_uid !== undefined) {
    throw invalidField("/committee_uid", "is only allowed when type is committee");
  }
}

export interface RegistrantWrites {
  claims: Claims;
  /** The claim of (meeting, email): held by a registrant, or by a create that crashed. */
  emailClaim: (meetingUid: string) => ClaimGuard;
  /**
   * Creates a registrant under `uid` (the request's fields; the email is lower-cased, `type`
   * defaults to direct, a missing username is asked of the auth service). 404 without the
   * meeting, 409 when the email is registered already.
   */
  create(
    request: RegistrantsCreateRequest,
    uid: string,
    log: Logger,
  ): Promise<Versioned<StoredRegistrant>>;
  /** Deletes the registrant at `revision` and everything that hangs off it; 404 / 409 as usual. */
  remove(uid: string, revision: number, log: Logger): Promise<Versioned<StoredRegistrant>>;
  /**
   * The registrant an earlier attempt of a create stored under `uid` (Idempotency-Key), with its
   * commit key and count, which that attempt may not have reached; null when there is none.
   */
  findCreated(uid: string, log: Logger): Promise<Versioned<StoredRegistrant> | null>;
  /** The registrant of (meeting, email), found through its claim: one get, never a scan. */
  findByEmail(meetingUid: string, email: string): Promise<Versioned<StoredRegistrant> | null>;
}

/** Stateless but for the count's group commit, which registrant-count.ts shares per instance. */
export function registrantWrites(deps: HandlerDeps): RegistrantWrites {
  const { repos, now } = deps;
  const registrants = repos.registrants;
  const claims = new Claims(repos.registrantClaims, now);
  const count = registrantCount(deps);

  function emailClaim(meetingUid: string): ClaimGuard {
    return {
      exists: async (holder) => (await registrants.get(registrantKey(holder))) !== null,
      // The message goes to logs at info level: it must not name the email (personal data).
      taken: () => conflict(`the email is already registered for meeting ${meetingUid}`),
    };
  }

  return {
    claims,
    emailClaim,

    async create(request, uid, log) {
      const email = normalizeEmail(request.email);
      const meeting = await repos.meetings.get(directKey(request.meeting_uid));
      if (meeting === null) throw notFound("meeting", request.meeting_uid);
      checkOccurrenceOf(meeting.value, request.occurrence_id);
      const username = request.username ?? (await deps.platform?.usernameOf(email));
      const timestamp = now().toISOString();
      const registrant: StoredRegistrant = {
        ...request,
        ...(username === undefined ? {} : { username }),
        uid,
        email,
        type: request.type ?? "direct",
        created_at: timestamp,
        updated_at: timestamp,
      };
      checkRegistrantRules(registrant);

      await count.begin(meeting.value);
      const revision = await claims.createClaimed({
        key: registrantEmailClaimKey(registrant.meeting_uid, email),
        uid,
        guard: emailClaim(registrant.meeting_uid),
        create: () => registrants.createIndexed(registrant),
      });
      await count.refresh(registrant.meeting_uid, log);
      return { value: registrant, revision };
    },

    async remove(uid, revision, log) {
      const deleted = await deleteIndexed(registrants, "registrant", uid, revision);
      const registrant = deleted.value;
      await Promise.all([
        claims.release(registrantEmailClaimKey(registrant.meeting_uid, registrant.email), uid),
        deleteRsvpsOfRegistrant(deps, uid),
      ]);
      await count.refresh(registrant.meeting_uid, log);
      return deleted;
    },

    async findCreated(uid, log) {
      const found = await registrants.get(registrantKey(uid));
      if (found === null) return null;
      await registrants.commit(found.value);
      await count.refresh(found.value.meeting_uid, log);
      return found;
    },

    async findByEmail(meetingUid, email) {
      const claim = await repos.registrantClaims.get(
        registrantEmailClaimKey(meetingUid, normalizeEmail(email)),
      );
      if (claim === null) return null;
      const found = await registrants.get(registrantKey(claim.value.uid));
      return found !== null && found.value.meeting_uid === meetingUid ? found : null;
    },
  };
}
