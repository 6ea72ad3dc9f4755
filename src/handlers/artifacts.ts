// What recordings, transcripts and summaries share (docs/CONTRACT.md §4, §5): each belongs to one past
// meeting, is listed by it through `index/past-meeting/{past_meeting_uid}/{uid}` in its own
// bucket, and has its uid in one of the past meeting's lists (recording_uids, transcript_uids,
// summary_uids). handlers/recordings.ts, transcripts.ts and summaries.ts are thin tables over the
// operations here. Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import { applyMergePatch, type JsonObject } from "../domain/merge-patch.js";
import { invalidField, notFound } from "../errors.js";
import type { Logger } from "../logger.js";
import type { IndexedRepository } from "../store/kv/indexed-repository.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { DEFAULT_PAGE_SIZE, type Page, readPage } from "../store/kv/paging.js";
import {
  pastMeetingChildrenPrefix,
  type StoredPastMeeting,
  type UidList,
} from "../store/resources/past-meetings.js";
import { artifactLists } from "./artifact-lists.js";
import type { HandlerDeps } from "./deps.js";
import { reply, type Reply } from "./entity-reply.js";
import { deleteIndexed, updateIndexed } from "./entity-writes.js";

interface ArtifactBase {
  uid: string;
  past_meeting_uid: string;
  created_at: string;
  updated_at: string;
}

export interface ArtifactKind<S extends ArtifactBase> {
  /** As in the subjects and events: "recordings". */
  resource: "recordings" | "transcripts" | "summaries";
  /** For messages: "recording". */
  entity: string;
  /** The past meeting's list of these artifacts. */
  list: UidList;
  repo: IndexedRepository<S>;
  /** Recomputes the server-computed fields (totals) after a change; identity when there are none. */
  derive: (artifact: S) => S;
}

export interface ArtifactOperations<S extends ArtifactBase> {
  find: (uid: string) => Promise<Reply<S> | null>;
  /**
   * The artifact an earlier attempt of a create stored under `uid` (Idempotency-Key), with its
   * key under the past meeting and the list, which that attempt may not have reached.
   */
  findCreated: (uid: string, log: Logger) => Promise<Reply<S> | null>;
  get: (uid: string) => Promise<Reply<S>>;
  requirePastMeeting: (uid: string) => Promise<StoredPastMeeting>;
  /** Writes a new artifact (built by the caller) and links it to its past meeting. */
  create: (artifact: S, log: Logger) => Promise<Reply<S>>;
  update: (uid: string, revision: number, patch: JsonObject) => Promise<Reply<S>>;
  remove: (uid: string, revision: number, log: Logger) => Promise<{ uid: string; deleted: true }>;
  list: (
    pastMeetingUid: string,
    limit: number | undefined,
    cursor: string | undefined,
  ) => Promise<Page<Reply<S>>>;
}

export function artifactOperations<S extends ArtifactBase>(
  deps: HandlerDeps,
  kind: ArtifactKind<S>,
): ArtifactOperations<S> {
  const { repos, now } = deps;
  const { repo, resource, entity } = kind;
  const lists = artifactLists(deps);

  async function find(uid: string): Promise<Reply<S> | null> {
    const found = await repo.get(directKey(uid));
    return found === null ? null : reply(found.value, found.revision);
  }

  return {
    find,

    async findCreated(uid, log) {
      const found = await repo.get(directKey(uid));
      if (found === null) return null;
      await repo.commit(found.value);
      await lists.refresh(found.value.past_meeting_uid, kind.list, log);
      return reply(found.value, found.revision);
    },

    async get(uid) {
      const found = await find(uid);
      if (found === null) throw notFound(entity, uid);
      return found;
    },

    async requirePastMeeting(uid) {
      const found = await repos.pastMeetings.get(directKey(uid));
      if (found === null) throw notFound("past meeting", uid);
      return found.value;
    },

    async create(built, log) {
      const artifact = kind.derive(built);
      const revision = await repo.createIndexed(artifact);
      const linked = await lists.refresh(artifact.past_meeting_uid, kind.list, log);
      if (linked === null) {
        // The past meeting was deleted after it was read: the artifact goes with it.
        await repo.removeIndexed(artifact).catch(() => undefined);
        throw notFound("past meeting", artifact.past_meeting_uid);
      }
      return reply(artifact, revision);
    },

    async update(uid, revision, patch) {
      const key = directKey(uid);
      const updated = await updateIndexed({
        repo,
        key,
        entity,
        uid,
        revision,
        patch,
        now: now(),
        apply: (value, p) => {
          if (
            p["past_meeting_uid"] !== undefined &&
            p["past_meeting_uid"] !== value.past_meeting_uid
          ) {
            throw invalidField(
              "/past_meeting_uid",
              `cannot change: a ${entity} belongs to one past meeting`,
            );
          }
          return kind.derive(applyMergePatch(value, p));
        },
      });
      return reply(updated.value, updated.revision);
    },

    async remove(uid, revision, log) {
      const deleted = await deleteIndexed(repo, entity, uid, revision);
      const artifact = deleted.value;
      await lists.refresh(artifact.past_meeting_uid, kind.list, log);
      return { uid, deleted: true };
    },

    list(pastMeetingUid, limit, cursor) {
      const prefix = pastMeetingChildrenPrefix(pastMeetingUid);
      return readPage({
        scope: `${resource}.list|${pastMeetingUid}`,
        limit: limit ?? DEFAULT_PAGE_SIZE,
        cursor,
        maxReplyBytes: deps.maxReplyBytes,
        source: repo.listUnder(prefix),
        async load(key) {
          const found = await find(lastSegment(key));
          return found !== null && found.past_meeting_uid === pastMeetingUid ? found : null;
        },
      });
    },
  };
}

/**
 * Part of a past meeting delete (handlers/past-meetings.ts): every artifact of one kind with its
 * index key. The past meeting is gone, so its lists are not touched.
 */
export async function deleteArtifactsOfPastMeeting<S extends ArtifactBase>(
  deps: HandlerDeps,
  kind: ArtifactKind<S>,
  pastMeetingUid: string,
): Promise<void> {
  await kind.repo.removeAllUnder(
    pastMeetingChildrenPrefix(pastMeetingUid),
    (artifact) => artifact.past_meeting_uid === pastMeetingUid,
    () => Promise.resolve(),
  );
}
