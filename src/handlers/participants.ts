// lfx.participants.*: who was invited to and who attended a past meeting (docs/CONTRACT.md §4, §5
// "participant"), and the invited participants lfx.past-meetings.start creates.
//
// A participant is unique per (past meeting, email), lower-case. A create-only claim names that
// pair and holds the participant's uid, so join finds or creates the participant atomically on
// any instance: the loser of a race updates what the winner created, at its revision, and leave
// finds it with one get. Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import { pastMeetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import { registrationCovers } from "../domain/attendance.js";
import { closeAttendance, openAttendance } from "../domain/sessions.js";
import { applyMergePatch, jsonEqual, type JsonObject } from "../domain/merge-patch.js";
import { AppError, conflict, invalidField, notFound, unavailable } from "../errors.js";
import type { Participant } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { Claims, type ClaimGuard } from "../store/kv/claims.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { RevisionConflict } from "../store/kv/kv-repository.js";
import { modifyAtRevision } from "../store/kv/modify.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import {
  participantEmailClaimKey,
  type StoredParticipant,
} from "../store/resources/participants.js";
import {
  pastMeetingChildrenPrefix,
  type StoredPastMeeting,
} from "../store/resources/past-meetings.js";
import {
  registrantKey,
  registrantsOfEmailPrefix,
  registrantsOfMeetingPrefix,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import { normalizeEmail } from "./registrant-writes.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";
import { deleteIndexed, updateClaimed } from "./entity-writes.js";

/** Rounds of claim -> read -> write before a heavily contended join gives up with a 503. */
const MAX_ATTEMPTS = 50;
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

function participantClaims(deps: HandlerDeps): Claims {
  return new Claims(deps.repos.participantClaims, deps.now);
}

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

interface FindOrCreate {
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
async function createClaimed(
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
async function findOrCreate(deps: HandlerDeps, spec: FindOrCreate): Promise<Participant> {
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

function newParticipant(
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

export function participantEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const participants = repos.participants;
  const claims = participantClaims(deps);
  const rules = accessRules(deps);
  const organizerOf = (pastMeetingUid: string) => pastMeetingRelation(pastMeetingUid, "organizer");

  async function findParticipant(uid: string): Promise<Participant | null> {
    const found = await participants.get(directKey(uid));
    return found === null ? null : reply(found.value, found.revision);
  }

  async function requirePastMeeting(uid: string): Promise<StoredPastMeeting> {
    const found = await repos.pastMeetings.get(directKey(uid));
    if (found === null) throw notFound("past meeting", uid);
    return found.value;
  }

  /** The claim of (past meeting, email): held by a participant, or by a create that crashed. */
  function emailClaim(pastMeetingUid: string): ClaimGuard {
    return {
      exists: async (holder) => (await participants.get(directKey(holder))) !== null,
      // The email is personal data: replies (and the log lines made of them) never echo it.
      taken: () => conflict(`the email is already a participant of past meeting ${pastMeetingUid}`),
    };
  }

  return [
    endpoint({
      subject: "lfx.participants.create",
      access: { request: ({ past_meeting_uid }) => organizerOf(past_meeting_uid) },
      findCreated: findParticipant,
      async handle(request, ctx) {
        const pastMeeting = await requirePastMeeting(request.past_meeting_uid);
        const email = normalizeEmail(request.email);
        const { past_meeting_uid: _parent, email: _email, ...fields } = request;
        // A participant without a username takes the email's, when it has one (docs/CONTRACT.md §10).
        const username = request.username ?? (await deps.platform?.usernameOf(email));
        if (username !== undefined) fields.username = username;
        const participant = newParticipant(
          pastMeeting,
          ctx.newUid,
          email,
          {
            ...fields,
            is_invited: request.is_invited ?? false,
            is_attended: request.is_attended ?? false,
            sessions: [],
          },
          now().toISOString(),
        );
        return createClaimed(deps, participant, emailClaim(pastMeeting.uid));
      },
    }),

    endpoint({
      subject: "lfx.participants.get",
      access: {
        request: ({ uid }) => rules.childOrganizer(repos.participants, "participant", uid),
      },
      async handle({ uid }) {
        const found = await findParticipant(uid);
        if (found === null) throw notFound("participant", uid);
        return found;
      },
    }),

    endpoint({
      subject: "lfx.participants.update",
      access: {
        request: ({ uid }) => rules.childOrganizer(repos.participants, "participant", uid),
      },
      async handle(request) {
        const { uid, revision, ...patch } = request;
        const key = directKey(uid);
        // A new email without a username takes the new email's username, when it has one.
        const usernameOfNewEmail =
          typeof patch.email === "string" && patch.username === undefined
            ? await deps.platform?.usernameOf(normalizeEmail(patch.email))
            : undefined;
        const updated = await updateClaimed(
          {
            repo: participants,
            key,
            entity: "participant",
            uid,
            revision,
            patch,
            now: now(),
            apply: (value, p: JsonObject) => {
              if (
                p["past_meeting_uid"] !== undefined &&
                p["past_meeting_uid"] !== value.past_meeting_uid
              ) {
                throw invalidField(
                  "/past_meeting_uid",
                  "cannot change: a participant belongs to one past meeting",
                );
              }
              const merged = applyMergePatch(value, p);
              const result = { ...merged, email: normalizeEmail(merged.email) };
              if (result.email !== value.email && usernameOfNewEmail !== undefined) {
                result.username = usernameOfNewEmail;
              }
              return result;
            },
          },
          {
            claims,
            claimKeyOf: (entity) => participantEmailClaimKey(entity.past_meeting_uid, entity.email),
            guardOf: (entity) => emailClaim(entity.past_meeting_uid),
          },
        );
        return reply(updated.value, updated.revision);
      },
    }),

    endpoint({
      subject: "lfx.participants.delete",
      access: {
        request: ({ uid }) => rules.childOrganizer(repos.participants, "participant", uid),
      },
      async handle({ uid, revision }) {
        const deleted = await deleteIndexed(participants, "participant", uid, revision);
        const participant = deleted.value;
        await claims.release(
          participantEmailClaimKey(participant.past_meeting_uid, participant.email),
          uid,
        );
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.participants.list",
      access: { request: ({ past_meeting_uid }) => organizerOf(past_meeting_uid) },
      async handle(request) {
        const { past_meeting_uid, limit = DEFAULT_PAGE_SIZE, cursor } = request;
        const prefix = pastMeetingChildrenPrefix(past_meeting_uid);
        return readPage({
          scope: `participants.list|${past_meeting_uid}`,
          limit,
          cursor,
          maxReplyBytes: deps.maxReplyBytes,
          source: participants.listUnder(prefix),
          async load(key) {
            const found = await findParticipant(lastSegment(key));
            return found !== null && found.past_meeting_uid === past_meeting_uid ? found : null;
          },
        });
      },
    }),

    endpoint({
      subject: "lfx.participants.join",
      access: { request: ({ past_meeting_uid }) => organizerOf(past_meeting_uid) },
      async handle(request, ctx) {
        const pastMeeting = await requirePastMeeting(request.past_meeting_uid);
        const email = normalizeEmail(request.email);
        const joinedAt = request.joined_at;
        const given: PersonFields = {};
        if (request.first_name !== undefined) given.first_name = request.first_name;
        if (request.last_name !== undefined) given.last_name = request.last_name;
        if (request.username !== undefined) given.username = request.username;
        return findOrCreate(deps, {
          pastMeeting,
          email,
          uid: ctx.newUid,
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
      },
    }),

    endpoint({
      subject: "lfx.participants.leave",
      access: { request: ({ past_meeting_uid }) => organizerOf(past_meeting_uid) },
      async handle(request) {
        const { past_meeting_uid, leave_reason } = request;
        const leftAt = request.left_at;
        const email = normalizeEmail(request.email);
        const missing = () =>
          new AppError(
            "not_found",
            `no participant with this email in past meeting ${past_meeting_uid}`,
          );
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
      },
    }),
  ];
}
