// The registrant create and delete use cases, shared by `lfx.registrants.*` (registrants.ts) and
// the committee membership sync (committee-members.ts), so that a committee member becomes a
// registrant exactly as a direct registration does: the same email claim, index keys, count and
// events. Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import { conflict, invalidField, notFound } from "../errors.js";
import type { RegistrantsCreateRequest } from "../generated/schema-types.js";
import type { Logger } from "../logger.js";
import { Claims, type ClaimGuard } from "../store/kv/claims.js";
import { GroupCommit } from "../store/kv/group-commit.js";
import { directKey } from "../store/kv/keys.js";
import type { Versioned } from "../store/kv/kv-repository.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import {
  registrantEmailClaimKey,
  registrantKey,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import { deleteIndexed } from "./entity-writes.js";
import { checkOccurrenceOf } from "./meeting-view.js";
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
  /** The registrant of (meeting, email), found through its claim: one get, never a scan. */
  findByEmail(meetingUid: string, email: string): Promise<Versioned<StoredRegistrant> | null>;
}

/**
 * One RegistrantWrites per set of dependencies (one per instance), so that every registration of
 * a meeting, by request or by committee sync, goes through one group commit of its count.
 */
const shared = new WeakMap<HandlerDeps, RegistrantWrites>();

export function registrantWrites(deps: HandlerDeps): RegistrantWrites {
  let writes = shared.get(deps);
  if (writes === undefined) {
    writes = createRegistrantWrites(deps);
    shared.set(deps, writes);
  }
  return writes;
}

function createRegistrantWrites(deps: HandlerDeps): RegistrantWrites {
  const { repos, now } = deps;
  const registrants = repos.registrants;
  const claims = new Claims(repos.registrantClaims, now);
  const registrantCount = new GroupCommit<StoredMeeting, number>({
    repo: repos.meetings,
    apply: (meeting, deltas) => ({
      ...meeting,
      registrant_count: Math.max(
        0,
        deltas.reduce((sum, d) => sum + d, meeting.registrant_count),
      ),
      updated_at: now().toISOString(),
    }),
  });

  /**
   * The registrant is committed when this runs, so a failure here does not fail the request: the
   * count is left off by one, which check-consistency reports and repairs.
   */
  async function adjustCount(meetingUid: string, delta: number, log: Logger) {
    try {
      await registrantCount.add(directKey(meetingUid), delta);
    } catch (err) {
      log.error(
        { err, meeting_uid: meetingUid, delta },
        "registrant_count not updated; run check-consistency --repair",
      );
    }
  }

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

      const revision = await claims.createClaimed({
        key: registrantEmailClaimKey(registrant.meeting_uid, email),
        uid,
        guard: emailClaim(registrant.meeting_uid),
        create: () => registrants.createIndexed(registrant),
      });
      await adjustCount(registrant.meeting_uid, +1, log);
      return { value: registrant, revision };
    },

    async remove(uid, revision, log) {
      const deleted = await deleteIndexed(registrants, "registrant", uid, revision);
      const registrant = deleted.value;
      await Promise.all([
        claims.release(registrantEmailClaimKey(registrant.meeting_uid, registrant.email), uid),
        deleteRsvpsOfRegistrant(deps, uid),
      ]);
      await adjustCount(registrant.meeting_uid, -1, log);
      return deleted;
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
