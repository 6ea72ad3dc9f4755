// lfx.meeting-settings.*: the organizers of a meeting, kept beside it under the same uid. Created
// and deleted with the meeting (handlers/meetings.ts); here they are read and updated.
import { notFound, staleRevision } from "../errors.js";
import type { MeetingSettings } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { RevisionConflict } from "../store/kv-repository.js";
import { directKey } from "../store/keys.js";
import type { HandlerDeps } from "./types.js";
import { planUpdate } from "./entity-writes.js";

export function meetingSettingsEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const settings = repos.meetingSettings;

  return [
    endpoint({
      subject: "lfx.meeting-settings.get",
      async handle({ uid }): Promise<MeetingSettings> {
        const found = await settings.get(directKey(uid));
        if (found === null) throw notFound("meeting settings", uid);
        return { ...found.value, revision: found.revision };
      },
    }),

    endpoint({
      subject: "lfx.meeting-settings.update",
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
