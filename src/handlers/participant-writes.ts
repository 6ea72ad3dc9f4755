// The participant writes shared by lfx.participants.* (participants.ts), attendance
// (participant-attendance.ts: join, leave, invitations at a start) and a past meeting's delete:
// the email claim, create under it, find-or-create, the cascade. A participant is unique per
// (past meeting, email), lower-case: a create-only claim names that pair and holds the
// participant's uid. Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import { conflict, unavailable } from "../errors.js";
import type { Participant } from "../generated/schema-types.js";
import { Claims, type ClaimGuard } from "../store/kv/claims.js";
import { directKey } from "../store/kv/keys.js";
import { RevisionConflict } from "../store/kv/kv-repository.js";
import {
  participantEmailClaimKey,
  type StoredParticipant,
} from "../store/resources/participants.js";
import {
  pastMeetingChildrenPrefix,
  type StoredPastMeeting,
} from "../store/resources/past-meetings.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";

/** Rounds of claim -> read -> write before a heavily contended join gives up with a 503. */
const MAX_ATTEMPTS = 50;

export function participantClaims(deps: HandlerDeps): Claims {
  return new Claims(deps.repos.participantClaims, deps.now);
}

/** The claim of (past meeting, email): held by a participant, or by a create that crashed. */
export function participantEmailClaim(deps: HandlerDeps, pastMeetingUid: string): ClaimGuard {
  return {
    exists: async (holder) => (await deps.repos.participants.get(directKey(holder))) !== null,
    // The email is personal data: replies (and the log lines made of them) never echo it.
    taken: () => conflict(`the email is already a participant of past meeting ${pastMeetingUid}`),
  };
}

export interface FindOrCreate {
  pastMeeting: StoredPastMeeting;
  /** Lower-case. */
  email: string;
  /** The uid a new participant takes. */
  uid: string;
  /** The new participant, when there is none of this email. */
  create(uid: string): Promise<StoredParticipant>;
  /** The change to an existing one (null: nothing to change). */
  change(existing: StoredParticipant): StoredParticipant | null;
}

/**
 * Creates a participant under its email's claim, which it holds or, given `guard`, takes first
 * (store/kv/claims.ts `createClaimed`).
 */
export async function createClaimed(
  deps: HandlerDeps,
  participant: StoredParticipant,
  guard?: ClaimGuard,
): Promise<Participant> {
  const revision = await participantClaims(deps).createClaimed({
    key: participantEmailClaimKey(participant.past_meeting_uid, participant.email),
    uid: participant.uid,
    ...(guard === undefined ? {} : { guard }),
    create: () => deps.repos.participants.createIndexed(participant),
  });
  return reply(participant, revision);
}

/**
 * The participant of (past meeting, email), created or changed atomically: the claim decides who
 * creates it, everyone else changes it at its revision (re-reading after a conflict).
 */
export async function findOrCreate(deps: HandlerDeps, spec: FindOrCreate): Promise<Participant> {
  const { participants } = deps.repos;
  const claims = participantClaims(deps);
  const claimKey = participantEmailClaimKey(spec.pastMeeting.uid, spec.email);
  /** Creates the participant whose claim `spec.uid` holds; the claim goes if that fails early. */
  const createHeld = async (): Promise<Participant> => {
    let participant: StoredParticipant;
    try {
      participant = await spec.create(spec.uid);
    } catch (err) {
      await claims.release(claimKey, spec.uid).catch(() => undefined);
      throw err;
    }
    return createClaimed(deps, participant);
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const outcome = await claims.claim(claimKey, spec.uid);
    if (outcome.won || outcome.holder === spec.uid) return createHeld();
    const existing = await participants.get(directKey(outcome.holder));
    if (existing !== null) {
      const next = spec.change(existing.value);
      if (next === null) return reply(existing.value, existing.revision);
      try {
        const revision = await participants.update(directKey(next.uid), next, existing.revision);
        return reply(next, revision);
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
        continue; // a concurrent join changed it: read again
      }
    }
    if (outcome.stale && (await claims.takeOver(claimKey, outcome.revision, spec.uid))) {
      return createHeld();
    }
    // The participant is being created right now: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  }
  throw unavailable("too many concurrent changes to this participant; retry");
}

export function newParticipant(
  pastMeeting: StoredPastMeeting,
  uid: string,
  email: string,
  fields: Omit<
    StoredParticipant,
    "uid" | "past_meeting_uid" | "meeting_uid" | "email" | "created_at" | "updated_at"
  >,
  timestamp: string,
): StoredParticipant {
  return {
    ...fields,
    uid,
    past_meeting_uid: pastMeeting.uid,
    meeting_uid: pastMeeting.meeting_uid,
    email,
    created_at: timestamp,
    updated_at: timestamp,
  };
}

/** Part of a past meeting delete (handlers/past-meetings.ts): its participants and their keys. */
export async function deleteParticipantsOfPastMeeting(
  deps: HandlerDeps,
  pastMeetingUid: string,
): Promise<void> {
  const claims = participantClaims(deps);
  await deps.repos.participants.removeAllUnder(
    pastMeetingChildrenPrefix(pastMeetingUid),
    (participant) => participant.past_meeting_uid === pastMeetingUid,
    async (participant) => {
      await claims.release(
        participantEmailClaimKey(pastMeetingUid, participant.email),
        participant.uid,
      );
    },
  );
}
