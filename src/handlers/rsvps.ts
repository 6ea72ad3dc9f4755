// lfx.rsvps.*: registrants' answers (CONTRACT §4, §5 "rsvp"). There is one RSVP per registrant,
// scope and occurrence: a claim key names that triple and holds the RSVP's uid, so a later answer
// finds the earlier RSVP and replaces its response at its revision, also when two answers race on
// two instances (one creates, the other then updates what was created).
import { AppError, notFound, staleRevision, unavailable } from "../errors.js";
import type { Rsvp } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { Claims } from "../store/claims.js";
import { directKey, lastSegment } from "../store/keys.js";
import { RevisionConflict } from "../store/kv-repository.js";
import { readPage } from "../store/paging.js";
import { registrantKey } from "../store/registrants.js";
import {
  rsvpAnswerClaimKey,
  rsvpIndexKeys,
  rsvpsOfMeetingPrefix,
  rsvpsOfOccurrencePrefix,
  rsvpsOfRegistrantPrefix,
  type StoredRsvp,
} from "../store/rsvps.js";
import { checkOccurrenceOf } from "./meeting-view.js";
import type { HandlerDeps } from "./types.js";

const RESOURCE = "rsvps";
const DEFAULT_PAGE_SIZE = 100;
const CLAIM_LEASE_MS = 30_000;
/** Rounds of claim -> read -> write before a heavily contended answer gives up with a 503. */
const MAX_ANSWER_ATTEMPTS = 50;

function reply(rsvp: StoredRsvp, revision: number): Rsvp {
  return { ...rsvp, revision };
}

function rsvpClaims(deps: HandlerDeps): Claims {
  return new Claims(deps.repos.rsvpClaims, deps.now, CLAIM_LEASE_MS);
}

export function rsvpEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, events, now } = deps;
  const rsvps = repos.rsvps;
  const claims = rsvpClaims(deps);

  async function findRsvp(uid: string): Promise<Rsvp | null> {
    const found = await rsvps.get(directKey(uid));
    return found === null ? null : reply(found.value, found.revision);
  }

  /** Creates the RSVP whose claim `uid` holds: index keys first, then the RSVP (commit point). */
  async function createClaimed(rsvp: StoredRsvp): Promise<Rsvp> {
    const indexKeys = rsvpIndexKeys(rsvp);
    let revision: number;
    try {
      await Promise.all(indexKeys.map((key) => rsvps.putMarker(key, rsvp.uid)));
      revision = await rsvps.create(directKey(rsvp.uid), rsvp);
    } catch (err) {
      await Promise.allSettled([
        ...indexKeys.map((key) => rsvps.removeMarker(key)),
        claims.release(rsvpAnswerClaimKey(rsvp), rsvp.uid),
      ]);
      throw err;
    }
    events.publish(RESOURCE, "created", rsvp.uid, revision, rsvp);
    return reply(rsvp, revision);
  }

  return [
    endpoint({
      subject: "lfx.rsvps.create",
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
            // The answer key names the response: the new key before the write, the old after.
            const oldKeys = rsvpIndexKeys(earlier.value);
            const newKeys = rsvpIndexKeys(replaced);
            const addedKeys = newKeys.filter((k) => !oldKeys.includes(k));
            await Promise.all(addedKeys.map((key) => rsvps.putMarker(key, replaced.uid)));
            let revision: number;
            try {
              revision = await rsvps.update(directKey(replaced.uid), replaced, earlier.revision);
            } catch (err) {
              await Promise.allSettled(addedKeys.map((key) => rsvps.removeMarker(key)));
              if (!(err instanceof RevisionConflict)) throw err;
              continue; // a concurrent answer changed it: read again
            }
            await Promise.all(
              oldKeys.filter((k) => !newKeys.includes(k)).map((key) => rsvps.removeMarker(key)),
            );
            events.publish(RESOURCE, "updated", replaced.uid, revision, replaced);
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
      async handle({ uid }) {
        const found = await findRsvp(uid);
        if (found === null) throw notFound("rsvp", uid);
        return found;
      },
    }),

    endpoint({
      subject: "lfx.rsvps.delete",
      async handle({ uid, revision }) {
        const key = directKey(uid);
        const current = await rsvps.get(key);
        if (current === null) throw notFound("rsvp", uid);
        if (current.revision !== revision) throw staleRevision("rsvp", uid);
        let deletedRevision: number;
        try {
          deletedRevision = await rsvps.remove(key, revision);
        } catch (err) {
          if (err instanceof RevisionConflict) throw staleRevision("rsvp", uid);
          throw err;
        }
        await removeRsvpKeys(deps, current.value);
        events.publish(RESOURCE, "deleted", uid, deletedRevision, null);
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.rsvps.list",
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
          keys: (after, count) => rsvps.keysUnder(prefix, after, count),
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

/** Index keys and claim of a deleted RSVP. */
async function removeRsvpKeys(deps: HandlerDeps, rsvp: StoredRsvp): Promise<void> {
  const { rsvps } = deps.repos;
  await Promise.all([
    ...rsvpIndexKeys(rsvp).map((key) => rsvps.removeMarker(key)),
    rsvpClaims(deps).release(rsvpAnswerClaimKey(rsvp), rsvp.uid),
  ]);
}

/** Deletes every RSVP under an index prefix, with its keys (cascades of deletes). */
async function deleteRsvpsUnder(deps: HandlerDeps, prefix: string): Promise<void> {
  const { rsvps } = deps.repos;
  for await (const keys of rsvps.allKeysUnder(prefix)) {
    await Promise.all(
      keys.map(async (indexKey) => {
        const uid = lastSegment(indexKey);
        const found = await rsvps.get(directKey(uid));
        if (found === null) {
          await rsvps.removeMarker(indexKey);
          return;
        }
        const revision = await rsvps.remove(directKey(uid));
        await removeRsvpKeys(deps, found.value);
        deps.events.publish(RESOURCE, "deleted", uid, revision, null);
      }),
    );
  }
}

/** Part of a registrant delete (handlers/registrants.ts). */
export function deleteRsvpsOfRegistrant(deps: HandlerDeps, registrantUid: string): Promise<void> {
  return deleteRsvpsUnder(deps, rsvpsOfRegistrantPrefix(registrantUid));
}

/** Part of a meeting delete (handlers/meetings.ts). */
export function deleteRsvpsOfMeeting(deps: HandlerDeps, meetingUid: string): Promise<void> {
  return deleteRsvpsUnder(deps, rsvpsOfMeetingPrefix(meetingUid));
}
