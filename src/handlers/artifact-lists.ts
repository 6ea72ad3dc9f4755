// A past meeting's artifact lists (recording_uids, transcript_uids, summary_uids), exact by
// construction, as its meeting's registrant_count is (registrant-count.ts): an artifact is listed
// while its key under the past meeting exists (the commit key of store/resources/artifacts.ts:
// written after the artifact, removed first), and a list is those keys replayed from the
// artifact bucket's stream (KvRepository.uidsUnder). The past meeting stores each list as of a
// stream sequence (`uid_lists_seq`); a read replays what came after it, so a list write lost to a
// crash or an unknown outcome never shows, and the next artifact's write stores it.
import type { PastMeeting } from "../generated/schema-types.js";
import type { Logger } from "../logger.js";
import { GroupCommit } from "../store/kv/group-commit.js";
import { directKey } from "../store/kv/keys.js";
import type { Versioned } from "../store/kv/kv-repository.js";
import type { StoredPastMeeting, UidList } from "../store/resources/past-meetings.js";
import { onePerInstance, type HandlerDeps } from "./deps.js";

export const UID_LISTS: readonly UidList[] = ["recording_uids", "transcript_uids", "summary_uids"];

export interface ArtifactLists {
  /** The past meeting as replies show it: its lists as they are now, stored plus what came after. */
  reply(pastMeeting: StoredPastMeeting, revision: number): Promise<PastMeeting>;
  /**
   * Stores `list` of the past meeting as it is now, at the past meeting's revision; null when
   * the past meeting does not exist (any more). A failure to write is logged, not thrown: the
   * artifact it follows is committed, and reads replay from the last stored list.
   */
  refresh(
    pastMeetingUid: string,
    list: UidList,
    log: Logger,
  ): Promise<Versioned<StoredPastMeeting> | null | undefined>;
}

export const artifactLists = onePerInstance((deps: HandlerDeps): ArtifactLists => {
  const { repos, now } = deps;
  const repoOf = {
    recording_uids: repos.recordings,
    transcript_uids: repos.transcripts,
    summary_uids: repos.summaries,
  } as const;

  /** The lists named, replayed from where the past meeting stored them; `lists` all by default. */
  async function replayed(
    pastMeeting: StoredPastMeeting,
    lists: readonly UidList[] = UID_LISTS,
  ): Promise<StoredPastMeeting> {
    const seqs = pastMeeting.uid_lists_seq;
    const folds = await Promise.all(
      lists.map((list) => repoOf[list].uidsOfPastMeeting(pastMeeting, list)),
    );
    let next = pastMeeting;
    folds.forEach(({ uids, seq }, i) => {
      const list = lists[i]!;
      if (seq === seqs?.[list]) return;
      next = {
        ...next,
        [list]: uids,
        uid_lists_seq: { ...next.uid_lists_seq, [list]: seq },
      };
    });
    return next;
  }

  const commit = new GroupCommit<StoredPastMeeting, UidList>({
    repo: repos.pastMeetings,
    async apply(pastMeeting, lists) {
      const next = await replayed(pastMeeting, [...new Set(lists)]);
      return next === pastMeeting ? next : { ...next, updated_at: now().toISOString() };
    },
  });

  return {
    async reply(pastMeeting, revision) {
      const { uid_lists_seq: _replayedUpTo, ...shown } = await replayed(pastMeeting);
      return { ...shown, revision };
    },
    async refresh(pastMeetingUid, list, log) {
      try {
        return await commit.add(directKey(pastMeetingUid), list);
      } catch (err) {
        log.warn(
          { err, past_meeting_uid: pastMeetingUid, list },
          `${list} not stored; reads replay from the last stored list`,
        );
        return undefined;
      }
    },
  };
});
