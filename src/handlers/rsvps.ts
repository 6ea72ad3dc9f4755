// lfx.rsvps.*: registrants' answers (docs/CONTRACT.md §4, §5 "rsvp"). There is one RSVP per registrant,
// scope and occurrence: a claim key names that triple and holds the RSVP's uid, so a later answer
// finds the earlier RSVP and replaces its response at its revision, also when two answers race on
// two instances (one creates, the other then updates what was created).
import { meetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import { AppError, notFound, unavailable } from "../errors.js";
import type { Rsvp } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { Claims } from "../store/kv/claims.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { RevisionConflict } from "../store/kv/kv-repository.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import { registrantKey } from "../store/resources/registrants.js";
import {
  rsvpAnswerClaimKey,
  rsvpsOfMeetingPrefix,
  rsvpsOfOccurrencePrefix,
  rsvpsOfRegistrantPrefix,
  type StoredRsvp,
} from "../store/resources/rsvps.js";
import { checkOccurrenceOf } from "./meeting-view.js";
import { deleteIndexed } from "./entity-writes.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";

/** Rounds of claim -> read -> write before a heavily contended answer gives up with a 503. */
const MAX_ANSWER_ATTEMPTS = 50;

function rsvpClaims(deps: HandlerDeps): Claims {
  return new Claims(deps.repos.rsvpClaims, deps.now);
}

export function rsvpEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const rsvps = repos.rsvps;
  const rules = accessRules(deps);
  const claims = rsvpClaims(deps);

  async function findRsvp(uid: string): Promise<Rsvp | null> {
    const found = await rsvps.get(directKey(uid));
    return found === null ? null : reply(found.value, found.revision);
  }

  /** Creates the RSVP whose claim it holds; the claim is released if that fails. */
  async function createClaimed(rsvp: StoredRsvp): Promise<Rsvp> {
    const revision = await claims.createClaimed({
      key: rsvpAnswerClaimKey(rsvp),
      uid: rsvp.uid,
      create: () => rsvps.createIndexed(rsvp),
    });
    return reply(rsvp, revision);
  }

  return [
    endpoint({
      subject: "lfx.rsvps.create",
      access: {
        request: ({ meeting_uid, registrant_uid }, caller) =>
          rules.ownAnswerOrOrganizer(meeting_uid, registrant_uid, caller),
      },
      findCreated: findRsvp,
      async handle(request, ctx) {
        const { meeting_uid, registrant_uid, response, scope, occurrence_id } = request;
        const [meeting, registrant] = await Promise.all([
          repos.meetings.get(directKey(meeting_uid)),
          repos.registrants.get(registrantKey(registrant_uid)),
        ]);
        if (meeting === null) throw notFound("meeting", meeting_uid);
        if (registrant === null || registrant.value.meeting_uid !== meeting_uid) {
          throw new AppError(
            "not_found",
            `registrant ${registrant_uid} not found in meeting ${meeting_uid}`,
          );
        }
        checkOccurrenceOf(meeting.value, occurrence_id);
        const timestamp = now().toISOString();
        const { email, username } = registrant.value;
        const answer: StoredRsvp = {
          uid: ctx.newUid,
          meeting_uid,
          registrant_uid,
          email,
          ...(username === undefined ? {} : { username }),
          response,
          scope,
          ...(occurrence_id === undefined ? {} : { occurrence_id }),
          created_at: timestamp,
          updated_at: timestamp,
        };
        const claimKey = rsvpAnswerClaimKey(answer);

        for (let attempt = 0; attempt < MAX_ANSWER_ATTEMPTS; attempt++) {
          const outcome = await claims.claim(claimKey, answer.uid);
          if (outcome.won || outcome.holder === answer.uid) return createClaimed(answer);

          const earlier = await rsvps.get(directKey(outcome.holder));
          if (earlier !== null) {
            // A later answer replaces the earlier one: same RSVP, new response.
            const replaced: StoredRsvp = {
              ...earlier.value,
              email,
              response,
              updated_at: timestamp,
            };
            if (username === undefined) delete replaced.username;
            else replaced.username = username;
            // The answer index key names the response, so it moves with the replacement.
            let revision: number;
            try {
              revision = await rsvps.replaceIndexed(earlier.value, replaced, earlier.revision);
            } catch (err) {
              if (!(err instanceof RevisionConflict)) throw err;
              continue; // a concurrent answer changed it: read again
            }
            return reply(replaced, revision);
          }
          if (outcome.stale && (await claims.takeOver(claimKey, outcome.revision, answer.uid))) {
            return createClaimed(answer);
          }
          // The earlier RSVP is being created right now: give it a moment.
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
        }
        throw unavailable("too many concurrent answers for this registrant; retry");
      },
    }),

    endpoint({
      subject: "lfx.rsvps.get",
      access: { request: ({ uid }, caller) => rules.rsvpOwnerOrOrganizer(uid, caller) },
      async handle({ uid }) {
        const found = await findRsvp(uid);
        if (found === null) throw notFound("rsvp", uid);
        return found;
      },
    }),

    endpoint({
      subject: "lfx.rsvps.delete",
      access: { request: ({ uid }, caller) => rules.rsvpOwnerOrOrganizer(uid, caller) },
      async handle({ uid, revision }) {
        const deleted = await deleteIndexed(rsvps, "rsvp", uid, revision);
        await claims.release(rsvpAnswerClaimKey(deleted.value), uid);
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.rsvps.list",
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "organizer") },
      async handle(request) {
        const { meeting_uid, occurrence_id, limit = DEFAULT_PAGE_SIZE, cursor } = request;
        const prefix =
          occurrence_id === undefined
            ? rsvpsOfMeetingPrefix(meeting_uid)
            : rsvpsOfOccurrencePrefix(meeting_uid, occurrence_id);
        return readPage({
          scope: `rsvps.list|${meeting_uid}|${occurrence_id ?? ""}`,
          limit,
          cursor,
          maxReplyBytes: deps.maxReplyBytes,
          source: rsvps.listUnder(prefix),
          async load(key) {
            const found = await findRsvp(lastSegment(key));
            if (found === null || found.meeting_uid !== meeting_uid) return null;
            if (occurrence_id !== undefined && found.occurrence_id !== occurrence_id) return null;
            return found;
          },
        });
      },
    }),
  ];
}

/** Deletes every RSVP under an index prefix, with its keys and claim (cascades of deletes). */
function deleteRsvpsUnder(
  deps: HandlerDeps,
  prefix: string,
  belongs: (rsvp: StoredRsvp) => boolean,
): Promise<void> {
  const claims = rsvpClaims(deps);
  return deps.repos.rsvps.removeAllUnder(prefix, belongs, async (rsvp) => {
    await claims.release(rsvpAnswerClaimKey(rsvp), rsvp.uid);
  });
}

/** Part of a registrant delete (handlers/registrants.ts). */
export function deleteRsvpsOfRegistrant(deps: HandlerDeps, registrantUid: string): Promise<void> {
  return deleteRsvpsUnder(
    deps,
    rsvpsOfRegistrantPrefix(registrantUid),
    (rsvp) => rsvp.registrant_uid === registrantUid,
  );
}

/** Part of a meeting delete (handlers/meetings.ts). */
export function deleteRsvpsOfMeeting(deps: HandlerDeps, meetingUid: string): Promise<void> {
  return deleteRsvpsUnder(
    deps,
    rsvpsOfMeetingPrefix(meetingUid),
    (rsvp) => rsvp.meeting_uid === meetingUid,
  );
}
