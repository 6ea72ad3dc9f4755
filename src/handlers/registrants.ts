// lfx.registrants.*: who is registered for a meeting (CONTRACT §4, §5 "registrant", §6).
//
// Write order of a create, chosen so that a crash between any two steps leaves state that lists
// skip and check-consistency repairs, never a duplicate and never a registrant without its claim:
//   1. claim (meeting, email) with a create-only key: exactly one concurrent create wins;
//   2. index keys (meeting, email, occurrence): a dangling index key is skipped by lists;
//   3. the registrant itself: the commit point;
//   4. the meeting's registrant_count (group-committed, see store/group-commit.ts).
// A delete runs the other way: the registrant first, then its index keys, its claim, its RSVPs
// and the count.
import { applyMergePatch, type JsonObject } from "../domain/merge-patch.js";
import { conflict, invalidField, notFound } from "../errors.js";
import type { Registrant } from "../generated/schema-types.js";
import type { Logger } from "../logger.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { Claims, type ClaimGuard } from "../store/claims.js";
import { GroupCommit } from "../store/group-commit.js";
import { directKey, lastSegment } from "../store/keys.js";
import type { StoredMeeting } from "../store/meetings.js";
import { readPage } from "../store/paging.js";
import {
  registrantEmailClaimKey,
  registrantKey,
  registrantsOfEmailPrefix,
  registrantsOfMeetingPrefix,
  type StoredRegistrant,
} from "../store/registrants.js";
import { deleteRsvpsOfRegistrant } from "./rsvps.js";
import { checkOccurrenceOf, shownMeeting } from "./meeting-view.js";
import type { HandlerDeps } from "./types.js";
import { deleteIndexed, updateClaimed } from "./entity-writes.js";

const RESOURCE = "registrants";
const DEFAULT_PAGE_SIZE = 100;
/** A claim whose registrant has not appeared after this long belongs to a crashed create. */
const CLAIM_LEASE_MS = 30_000;

function reply(registrant: StoredRegistrant, revision: number): Registrant {
  return { ...registrant, revision };
}

/** Emails are stored and compared lower-case (CONTRACT §5). */
export function normalizeEmail(email: string): string {
  return email.toLowerCase();
}

/** Rules on the whole registrant that the request schema cannot see after a merge. */
function checkRegistrantRules(registrant: StoredRegistrant): void {
  if (registrant.type === "committee" && registrant.committee_uid === undefined) {
    throw invalidField("/committee_uid", "is required when type is committee");
  }
  if (registrant.type !== "committee" && registrant.committee_uid !== undefined) {
    throw invalidField("/committee_uid", "is only allowed when type is committee");
  }
}

export function registrantEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, events, now } = deps;
  const registrants = repos.registrants;
  const claims = new Claims(repos.registrantClaims, now, CLAIM_LEASE_MS);
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
    onCommitted: (key, meeting, revision) =>
      events.publish("meetings", "updated", key, revision, shownMeeting(meeting)),
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

  /** The meeting of an existing registrant (404 for either). */
  async function registrantMeeting(uid: string): Promise<StoredMeeting> {
    const registrant = await registrants.get(registrantKey(uid));
    if (registrant === null) throw notFound("registrant", uid);
    const meeting = await repos.meetings.get(directKey(registrant.value.meeting_uid));
    if (meeting === null) throw notFound("meeting", registrant.value.meeting_uid);
    return meeting.value;
  }

  async function findRegistrant(uid: string): Promise<Registrant | null> {
    const found = await registrants.get(registrantKey(uid));
    return found === null ? null : reply(found.value, found.revision);
  }

  /** The claim of (meeting, email): held by a registrant, or by a create that crashed. */
  function emailClaim(meetingUid: string): ClaimGuard {
    return {
      exists: async (holder) => (await registrants.get(registrantKey(holder))) !== null,
      // The message goes to logs at info level: it must not name the email (personal data).
      taken: () => conflict(`the email is already registered for meeting ${meetingUid}`),
    };
  }

  return [
    endpoint({
      subject: "lfx.registrants.create",
      findCreated: findRegistrant,
      async handle(request, ctx) {
        const uid = ctx.newUid;
        const email = normalizeEmail(request.email);
        const meeting = await repos.meetings.get(directKey(request.meeting_uid));
        if (meeting === null) throw notFound("meeting", request.meeting_uid);
        checkOccurrenceOf(meeting.value, request.occurrence_id);
        const timestamp = now().toISOString();
        const registrant: StoredRegistrant = {
          ...request,
          uid,
          email,
          type: request.type ?? "direct",
          created_at: timestamp,
          updated_at: timestamp,
        };
        checkRegistrantRules(registrant);

        const claimKey = registrantEmailClaimKey(registrant.meeting_uid, email);
        await claims.claimUnique(claimKey, uid, emailClaim(registrant.meeting_uid));
        let revision: number;
        try {
          revision = await registrants.createIndexed(registrant);
        } catch (err) {
          await claims.releaseAfterFailure(claimKey, uid, err);
          throw err;
        }
        events.publish(RESOURCE, "created", uid, revision, registrant);
        await adjustCount(registrant.meeting_uid, +1, ctx.log);
        return reply(registrant, revision);
      },
    }),

    endpoint({
      subject: "lfx.registrants.get",
      async handle({ uid }) {
        const found = await findRegistrant(uid);
        if (found === null) throw notFound("registrant", uid);
        return found;
      },
    }),

    endpoint({
      subject: "lfx.registrants.resend",
      async handle({ uid }) {
        const found = await registrants.get(registrantKey(uid));
        if (found === null) throw notFound("registrant", uid);
        await deps.invitations.resend(found.value);
        return reply(found.value, found.revision);
      },
    }),

    endpoint({
      subject: "lfx.registrants.update",
      async handle(request) {
        const { uid, revision, ...patch } = request;
        const key = registrantKey(uid);
        // A new occurrence must be one of the meeting's (the meeting cannot change, see below).
        const occurrenceMeeting =
          typeof patch.occurrence_id === "string" ? await registrantMeeting(uid) : undefined;
        const updated = await updateClaimed(
          {
            repo: registrants,
            key,
            entity: "registrant",
            uid,
            revision,
            patch,
            now: now(),
            apply: (value, p: JsonObject) => {
              if (p["meeting_uid"] !== undefined && p["meeting_uid"] !== value.meeting_uid) {
                throw invalidField(
                  "/meeting_uid",
                  "cannot change: a registrant belongs to one meeting",
                );
              }
              const merged = applyMergePatch(value, p);
              const result = { ...merged, email: normalizeEmail(merged.email) };
              checkRegistrantRules(result);
              if (occurrenceMeeting !== undefined)
                checkOccurrenceOf(occurrenceMeeting, result.occurrence_id);
              return result;
            },
          },
          {
            claims,
            claimKeyOf: (entity) => registrantEmailClaimKey(entity.meeting_uid, entity.email),
            guardOf: (entity) => emailClaim(entity.meeting_uid),
          },
        );
        if (updated.changed) {
          events.publish(RESOURCE, "updated", uid, updated.revision, updated.value);
        }
        return reply(updated.value, updated.revision);
      },
    }),

    endpoint({
      subject: "lfx.registrants.delete",
      async handle({ uid, revision }, ctx) {
        const deleted = await deleteIndexed(registrants, "registrant", uid, revision);
        const registrant = deleted.value;
        const deletedRevision = deleted.revision;
        await Promise.all([
          claims.release(registrantEmailClaimKey(registrant.meeting_uid, registrant.email), uid),
          deleteRsvpsOfRegistrant(deps, uid),
        ]);
        events.publish(RESOURCE, "deleted", uid, deletedRevision, null);
        await adjustCount(registrant.meeting_uid, -1, ctx.log);
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.registrants.list",
      async handle(request) {
        const { meeting_uid, limit = DEFAULT_PAGE_SIZE, cursor } = request;
        const email = request.email === undefined ? undefined : normalizeEmail(request.email);
        // The schema guarantees exactly one of the two filters.
        const prefix =
          meeting_uid !== undefined
            ? registrantsOfMeetingPrefix(meeting_uid)
            : registrantsOfEmailPrefix(email ?? "");
        return readPage({
          scope: `registrants.list|${meeting_uid ?? ""}|${email ?? ""}`,
          limit,
          cursor,
          maxReplyBytes: deps.maxReplyBytes,
          keys: (after, count) => registrants.keysUnder(prefix, after, count),
          async load(key) {
            const found = await findRegistrant(lastSegment(key));
            if (found === null) return null;
            const matches =
              meeting_uid !== undefined ? found.meeting_uid === meeting_uid : found.email === email;
            return matches ? found : null;
          },
        });
      },
    }),
  ];
}

/**
 * Deletes every registrant of a meeting with its index keys and claim (the meeting is gone, so
 * its count is not touched). Part of a meeting delete (handlers/meetings.ts).
 */
export async function deleteRegistrantsOfMeeting(deps: HandlerDeps, meetingUid: string) {
  const { registrants, registrantClaims } = deps.repos;
  const claims = new Claims(registrantClaims, deps.now, CLAIM_LEASE_MS);
  await registrants.removeAllUnder(
    registrantsOfMeetingPrefix(meetingUid),
    (registrant) => registrant.meeting_uid === meetingUid,
    async (registrant, revision) => {
      await claims.release(registrantEmailClaimKey(meetingUid, registrant.email), registrant.uid);
      deps.events.publish(RESOURCE, "deleted", registrant.uid, revision, null);
    },
  );
}
