// lfx.meeting-settings.*: the organizers of a meeting, kept beside it under the same uid. Created
// and deleted with the meeting (handlers/meetings.ts); here they are read and updated.
import { meetingRelation } from "../auth/access.js";
import { AppError, notFound, staleRevision, unavailable } from "../errors.js";
import type { MeetingSettings } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { RevisionConflict } from "../store/kv/kv-repository.js";
import { directKey } from "../store/kv/keys.js";
import type { HandlerDeps } from "./deps.js";
import { planUpdate } from "./entity-writes.js";

/** Concurrent writers of one meeting's settings are rare; a few re-reads settle them. */
const MAX_ATTEMPTS = 5;

export function meetingSettingsEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const settings = repos.meetingSettings;

  return [
    endpoint({
      subject: "lfx.meeting-settings.get",
      access: { request: ({ uid }) => meetingRelation(uid, "organizer") },
      async handle({ uid }): Promise<MeetingSettings> {
        const found = await settings.get(directKey(uid));
        if (found === null) throw notFound("meeting settings", uid);
        return { ...found.value, revision: found.revision };
      },
    }),

    endpoint({
      subject: "lfx.meeting-settings.update",
      access: { request: ({ uid }) => meetingRelation(uid, "organizer") },
      async handle({ uid, revision, organizers }): Promise<MeetingSettings> {
        const key = directKey(uid);
        const { current, next } = await planUpdate({
          repo: settings,
          key,
          entity: "meeting settings",
          uid,
          revision,
          patch: { organizers },
          now: now(),
        });
        if (next === null) return { ...current.value, revision: current.revision };
        let newRevision: number;
        try {
          newRevision = await settings.update(key, next, current.revision);
        } catch (err) {
          if (err instanceof RevisionConflict) throw staleRevision("meeting settings", uid);
          throw err;
        }
        return { ...next, revision: newRevision };
      },
    }),
  ];
}

/**
 * Removes `usernames` from the organizers of a meeting on nobody's request (a project's settings
 * changed, docs/CONTRACT.md §10), by the update path of `lfx.meeting-settings.update` at the current
 * revision: read, merge, write at that revision, and read again when someone else wrote first.
 * Nothing to remove writes nothing; settings that are gone (the meeting was deleted) are skipped.
 */
export async function removeOrganizers(
  deps: HandlerDeps,
  meetingUid: string,
  usernames: ReadonlySet<string>,
): Promise<void> {
  const settings = deps.repos.meetingSettings;
  const key = directKey(meetingUid);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = await settings.get(key);
    if (found === null) return;
    const organizers = found.value.organizers.filter((username) => !usernames.has(username));
    if (organizers.length === found.value.organizers.length) return;
    const { next } = await planUpdate({
      repo: settings,
      key,
      entity: "meeting settings",
      uid: meetingUid,
      revision: found.revision,
      patch: { organizers },
      now: deps.now(),
    }).catch((err: unknown) => {
      // The settings moved on between the read and the plan: read again.
      if (err instanceof AppError && err.code === "conflict") return { next: undefined };
      throw err;
    });
    if (next === undefined) continue;
    if (next === null) return;
    try {
      await settings.update(key, next, found.revision);
      return;
    } catch (err) {
      if (!(err instanceof RevisionConflict)) throw err;
    }
  }
  throw unavailable(`the settings of meeting ${meetingUid} keep changing; retry`);
}
