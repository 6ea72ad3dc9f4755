// lfx.registrants.*: who is registered for a meeting (docs/CONTRACT.md §4, §5 "registrant", §6). Creates
// and deletes go through registrant-writes.ts (shared with the committee membership sync), which
// holds their claim (write order: docs/ARCHITECTURE.md "Writes").
import { ANY_CALLER, itemField, meetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import { applyMergePatch, type JsonObject } from "../domain/merge-patch.js";
import { invalidField, notFound } from "../errors.js";
import type { Registrant } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import {
  registrantEmailClaimKey,
  registrantKey,
  registrantsOfEmailPrefix,
  registrantsOfMeetingPrefix,
} from "../store/resources/registrants.js";
import { checkOccurrenceOf } from "./meeting-view.js";
import { checkRegistrantRules, normalizeEmail, registrantWrites } from "./registrant-writes.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";
import { updateClaimed } from "./entity-writes.js";

export function registrantEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const registrants = repos.registrants;
  const writes = registrantWrites(deps);
  const { claims, emailClaim } = writes;
  const rules = accessRules(deps);

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

  return [
    endpoint({
      subject: "lfx.registrants.create",
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "organizer") },
      async findCreated(uid, log) {
        const found = await writes.findCreated(uid, log);
        return found === null ? null : reply(found.value, found.revision);
      },
      async handle(request, ctx) {
        const created = await writes.create(request, ctx.newUid, ctx.log);
        return reply(created.value, created.revision);
      },
    }),

    endpoint({
      subject: "lfx.registrants.get",
      access: { request: ({ uid }) => rules.registrantOrganizer(uid) },
      async handle({ uid }) {
        const found = await findRegistrant(uid);
        if (found === null) throw notFound("registrant", uid);
        return found;
      },
    }),

    endpoint({
      subject: "lfx.registrants.resend",
      access: { request: ({ uid }) => rules.registrantOrganizer(uid) },
      async handle({ uid }) {
        const found = await registrants.get(registrantKey(uid));
        if (found === null) throw notFound("registrant", uid);
        await deps.invitations.resend(found.value);
        return reply(found.value, found.revision);
      },
    }),

    endpoint({
      subject: "lfx.registrants.update",
      access: { request: ({ uid }) => rules.registrantOrganizer(uid) },
      async handle(request) {
        const { uid, revision, ...patch } = request;
        const key = registrantKey(uid);
        // A new occurrence must be one of the meeting's (the meeting cannot change, see below).
        const occurrenceMeeting =
          typeof patch.occurrence_id === "string" ? await registrantMeeting(uid) : undefined;
        // A new email without a username takes the new email's username, when it has one (§10).
        const usernameOfNewEmail =
          typeof patch.email === "string" && patch.username === undefined
            ? await deps.platform?.usernameOf(normalizeEmail(patch.email))
            : undefined;
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
              if (result.email !== value.email && usernameOfNewEmail !== undefined) {
                result.username = usernameOfNewEmail;
              }
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
        return reply(updated.value, updated.revision);
      },
    }),

    endpoint({
      subject: "lfx.registrants.delete",
      access: { request: ({ uid }) => rules.registrantOrganizer(uid) },
      async handle({ uid, revision }, ctx) {
        await writes.remove(uid, revision, ctx.log);
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.registrants.list",
      // By meeting: its organizers. By email: the registrations across meetings, each shown to
      // the organizers of its meeting.
      access: {
        request: (filter) =>
          filter.meeting_uid === undefined
            ? ANY_CALLER
            : meetingRelation(filter.meeting_uid, "organizer"),
        item: (registrant) => meetingRelation(itemField(registrant, "meeting_uid"), "organizer"),
      },
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
          source: registrants.listUnder(prefix),
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
  const { registrants } = deps.repos;
  const { claims } = registrantWrites(deps);
  await registrants.removeAllUnder(
    registrantsOfMeetingPrefix(meetingUid),
    (registrant) => registrant.meeting_uid === meetingUid,
    async (registrant) => {
      await claims.release(registrantEmailClaimKey(meetingUid, registrant.email), registrant.uid);
    },
  );
}
