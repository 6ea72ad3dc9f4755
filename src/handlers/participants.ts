// lfx.participants.*: who was invited to and who attended a past meeting (docs/CONTRACT.md §4, §5
// "participant"). The writes under the email claim are in participant-writes.ts, join, leave and
// the invitations of a start in participant-attendance.ts.
import { pastMeetingRelation } from "../auth/access.js";
import { applyMergePatch, type JsonObject } from "../domain/merge-patch.js";
import { invalidField, notFound } from "../errors.js";
import type { Participant } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import { participantEmailClaimKey } from "../store/resources/participants.js";
import { pastMeetingChildrenPrefix } from "../store/resources/past-meetings.js";
import { accessRules } from "./access-rules.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";
import { deleteIndexed, updateClaimed } from "./entity-writes.js";
import { joinPastMeeting, leavePastMeeting, requirePastMeeting } from "./participant-attendance.js";
import {
  createClaimed,
  newParticipant,
  participantClaims,
  participantEmailClaim,
} from "./participant-writes.js";
import { normalizeEmail } from "./registrant-writes.js";

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

  return [
    endpoint({
      subject: "lfx.participants.create",
      access: { request: ({ past_meeting_uid }) => organizerOf(past_meeting_uid) },
      findCreated: findParticipant,
      async handle(request, ctx) {
        const pastMeeting = await requirePastMeeting(deps, request.past_meeting_uid);
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
        return createClaimed(deps, participant, participantEmailClaim(deps, pastMeeting.uid));
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
            guardOf: (entity) => participantEmailClaim(deps, entity.past_meeting_uid),
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
      handle: (request, ctx) => joinPastMeeting(deps, request, ctx.newUid),
    }),

    endpoint({
      subject: "lfx.participants.leave",
      access: { request: ({ past_meeting_uid }) => organizerOf(past_meeting_uid) },
      handle: (request) => leavePastMeeting(deps, request),
    }),
  ];
}
