// `lfx.projects-api.project_settings.updated` (docs/CONTRACT.md §10, docs/PLATFORM.md §5): a user who lost the
// writer or meeting-coordinator role of a project, and holds neither any more, stops being an
// organizer of the project's meetings. The meetings are found through the meetings bucket's
// project index; each one's settings change by the settings update path (meeting-settings.ts),
// which sends the settings' event like any other update. Idempotent: a replay finds nothing to
// remove.
import pLimit from "p-limit";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import { lastSegment } from "../store/kv/keys.js";
import { meetingIndexPrefix } from "../store/resources/meetings.js";
import { removeOrganizers } from "./meeting-settings.js";
import type { HandlerDeps } from "./deps.js";

/** Meetings whose settings are updated at once. */
const CONCURRENCY = 8;

export interface ProjectUser {
  username?: string;
}

export interface ProjectRoles {
  writers?: ProjectUser[];
  meeting_coordinators?: ProjectUser[];
}

export interface ProjectSettingsChange {
  project_uid: string;
  old_settings?: ProjectRoles;
  new_settings?: ProjectRoles;
}

/** Usernames that organize meetings: writers and meeting coordinators (docs/PLATFORM.md §2). */
function organizersOf(roles: ProjectRoles | undefined): Set<string> {
  const users = [...(roles?.writers ?? []), ...(roles?.meeting_coordinators ?? [])];
  return new Set(users.flatMap((user) => (user.username ? [user.username] : [])));
}

/** The users who held an organizing role before the change and hold none after it. */
export function lostOrganizers(change: ProjectSettingsChange): Set<string> {
  const now = organizersOf(change.new_settings);
  return new Set([...organizersOf(change.old_settings)].filter((user) => !now.has(user)));
}

export async function applyProjectSettingsChange(
  deps: HandlerDeps,
  change: ProjectSettingsChange,
  log: Logger,
): Promise<void> {
  const lost = lostOrganizers(change);
  if (lost.size === 0) return;
  const limit = pLimit(CONCURRENCY);
  const prefix = meetingIndexPrefix({ kind: "project", uid: change.project_uid });
  const failures: unknown[] = [];
  for await (const keys of deps.repos.meetings.allKeysUnder(prefix)) {
    await Promise.all(
      keys.map((key) =>
        limit(() =>
          removeOrganizers(deps, lastSegment(key), lost).catch((err: unknown) => {
            failures.push(err);
          }),
        ),
      ),
    );
  }
  if (failures.length > 0) {
    throw new AppError(
      "unavailable",
      `organizers not removed from ${failures.length} meetings`,
      undefined,
      { cause: failures[0] },
    );
  }
  log.info({ project_uid: change.project_uid, users: lost.size }, "lost organizers removed");
}
