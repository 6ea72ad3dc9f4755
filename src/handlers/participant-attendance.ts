// Who attended a past meeting and who was invited to it (docs/CONTRACT.md §4, §5 "participant"):
// lfx.participants.join and leave, and the invited participants lfx.past-meetings.start creates.
// Join finds or creates the participant atomically on any instance (participant-writes.ts): the
// loser of a race updates what the winner created, at its revision; leave finds it through its
// email's claim with one get.
import { registrationCovers } from "../domain/attendance.js";
import { jsonEqual } from "../domain/merge-patch.js";
import { closeAttendance, openAttendance } from "../domain/sessions.js";
import { AppError, notFound } from "../errors.js";
import type {
  Participant,
  ParticipantsJoinRequest,
  ParticipantsLeaveRequest,
} from "../generated/schema-types.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { modifyAtRevision } from "../store/kv/modify.js";
import {
  participantEmailClaimKey,
  type StoredParticipant,
} from "../store/resources/participants.js";
import type { StoredPastMeeting } from "../store/resources/past-meetings.js";
import {
  registrantKey,
  registrantsOfEmailPrefix,
  registrantsOfMeetingPrefix,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";
import { findOrCreate, newParticipant } from "./participant-writes.js";
import { normalizeEmail } from "./registrant-writes.js";

/** Registrants invited at once when a past meeting starts. */
const INVITE_BATCH = 100;

/** The registrant fields an invited participant copies (docs/CONTRACT.md §5 "participant"). */
const PERSON_FIELDS = [
  "first_name",
  "last_name",
  "host",
  "job_title",
  "org_name",
  "org_is_member",
  "org_is_project_member",
  "avatar_url",
  "linkedin_profile",
  "username",
] as const;

type PersonFields = Pick<StoredParticipant, (typeof PERSON_FIELDS)[number]>;

function personOf(registrant: StoredRegistrant | undefined): PersonFields {
  const person: Partial<Record<keyof PersonFields, unknown>> = {};
  if (registrant === undefined) return {};
  for (const field of PERSON_FIELDS) {
    if (registrant[field] !== undefined) person[field] = registrant[field];
  }
  return person as PersonFields;
}

/** `fields` that `participant` does not have yet: names from a join never overwrite. */
function fillAbsent(participant: StoredParticipant, fields: PersonFields): StoredParticipant {
  const filled: StoredParticipant = { ...participant };
  for (const field of PERSON_FIELDS) {
    if (filled[field] === undefined && fields[field] !== undefined) {
      Object.assign(filled, { [field]: fields[field] });
    }
  }
  return filled;
}

/** The registration of `email` that covers the past meeting's occurrence, if any. */
async function registrationOf(
  deps: HandlerDeps,
  pastMeeting: StoredPastMeeting,
  email: string,
): Promise<StoredRegistrant | undefined> {
  const { registrants } = deps.repos;
  for await (const keys of registrants.allKeysUnder(registrantsOfEmailPrefix(email))) {
    const found = await Promise.all(
      keys.map((key) => registrants.get(registrantKey(lastSegment(key)))),
    );
    const match = found.find(
      (r) =>
        r !== null &&
        r.value.meeting_uid === pastMeeting.meeting_uid &&
        r.value.email === email &&
        registrationCovers(r.value, pastMeeting.occurrence_id),
    );
    if (match !== undefined && match !== null) return match.value;
  }
  return undefined;
}

/**
 * Part of lfx.past-meetings.start (handlers/past-meetings.ts): an invited participant
 * (is_invited: true, is_attended: false) for every registrant of the past meeting's occurrence,
 * i.e. registered for it or for every occurrence. Idempotent: a registrant who is a participant
 * already is only marked invited, so a repeated start completes what a failed one left undone.
 */
export async function inviteRegistrants(
  deps: HandlerDeps,
  pastMeeting: StoredPastMeeting,
): Promise<void> {
  const { registrants } = deps.repos;
  const prefix = registrantsOfMeetingPrefix(pastMeeting.meeting_uid);
  for await (const keys of registrants.allKeysUnder(prefix, INVITE_BATCH)) {
    await Promise.all(
      keys.map(async (key) => {
        const found = await registrants.get(registrantKey(lastSegment(key)));
        if (found === null) return;
        const registrant = found.value;
        if (registrant.meeting_uid !== pastMeeting.meeting_uid) return;
        if (!registrationCovers(registrant, pastMeeting.occurrence_id)) return;
        await findOrCreate(deps, {
          pastMeeting,
          email: registrant.email,
          uid: deps.newId(),
          create: (uid) =>
            Promise.resolve(
              newParticipant(
                pastMeeting,
                uid,
                registrant.email,
                { ...personOf(registrant), is_invited: true, is_attended: false, sessions: [] },
                deps.now().toISOString(),
              ),
            ),
          change: (existing) =>
            existing.is_invited
              ? null
              : { ...existing, is_invited: true, updated_at: deps.now().toISOString() },
        });
      }),
    );
  }
}

/** The past meeting a participant belongs to (404 when it is gone). */
export async function requirePastMeeting(
  deps: HandlerDeps,
  uid: string,
): Promise<StoredPastMeeting> {
  const found = await deps.repos.pastMeetings.get(directKey(uid));
  if (found === null) throw notFound("past meeting", uid);
  return found.value;
}

/**
 * lfx.participants.join: the participant of the email, created (invited when a registration
 * covers the occurrence, else a guest) or changed, with a new open session.
 */
export async function joinPastMeeting(
  deps: HandlerDeps,
  request: ParticipantsJoinRequest,
  newUid: string,
): Promise<Participant> {
  const { now } = deps;
  const pastMeeting = await requirePastMeeting(deps, request.past_meeting_uid);
  const email = normalizeEmail(request.email);
  const joinedAt = request.joined_at;
  const given: PersonFields = {};
  if (request.first_name !== undefined) given.first_name = request.first_name;
  if (request.last_name !== undefined) given.last_name = request.last_name;
  if (request.username !== undefined) given.username = request.username;
  return findOrCreate(deps, {
    pastMeeting,
    email,
    uid: newUid,
    async create(uid) {
      // Someone registered for this occurrence (or all) is invited; anyone else a guest.
      const registration = await registrationOf(deps, pastMeeting, email);
      const person = { ...given, ...personOf(registration) };
      if (person.username === undefined) {
        const username = await deps.platform?.usernameOf(email);
        if (username !== undefined) person.username = username;
      }
      return newParticipant(
        pastMeeting,
        uid,
        email,
        {
          ...person,
          is_invited: registration !== undefined,
          is_attended: true,
          sessions: [{ uid: deps.newId(), join_time: joinedAt }],
        },
        now().toISOString(),
      );
    },
    change(existing) {
      const sessions = openAttendance(existing.sessions, deps.newId(), joinedAt);
      const next: StoredParticipant = {
        ...fillAbsent(existing, given),
        is_attended: true,
        sessions: sessions ?? existing.sessions,
      };
      return jsonEqual(next, existing) ? null : { ...next, updated_at: now().toISOString() };
    },
  });
}

/** lfx.participants.leave: closes the open session of the email's participant. */
export async function leavePastMeeting(
  deps: HandlerDeps,
  request: ParticipantsLeaveRequest,
): Promise<Participant> {
  const { repos, now } = deps;
  const participants = repos.participants;
  const { past_meeting_uid, leave_reason } = request;
  const leftAt = request.left_at;
  const email = normalizeEmail(request.email);
  const missing = () =>
    new AppError("not_found", `no participant with this email in past meeting ${past_meeting_uid}`);
  const claim = await repos.participantClaims.get(
    participantEmailClaimKey(past_meeting_uid, email),
  );
  if (claim === null) throw missing();
  const result = await modifyAtRevision(participants, directKey(claim.value.uid), (p) => {
    const sessions = closeAttendance(p.sessions, leftAt, leave_reason);
    return sessions === null ? null : { ...p, sessions, updated_at: now().toISOString() };
  });
  if (result === null || result.value.past_meeting_uid !== past_meeting_uid) throw missing();
  return reply(result.value, result.revision);
}
