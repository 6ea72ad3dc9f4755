// Past meetings and their participants (`past-meetings`, `past-meeting-participants`): each
// participant with its index key, its email claim and its past meeting; each past meeting with
// its index keys and start claim (it outlives its meeting: never an orphan); each index key and
// claim with its entity (entities.ts); and each past meeting's recording / transcript / summary
// uid lists against the artifacts found by their `index/past-meeting/{past_meeting_uid}/{uid}`
// keys, a page of past meetings at a time (one pass over each artifact bucket per page).
import { BUCKET_NAMES } from "../../store/kv/buckets.js";
import { encodeKeyPrefix, isDirectKey } from "../../store/kv/keys.js";
import { modifyAtRevision } from "../../store/kv/modify.js";
import { participantEmailClaimKey } from "../../store/resources/participants.js";
import {
  pastMeetingChildrenPrefix,
  pastMeetingStartClaimKey,
  type StoredPastMeeting,
} from "../../store/resources/past-meetings.js";
import type { Repositories } from "../../store/resources/repositories.js";
import { pastMeetingGone, type ArtifactFacts } from "./artifacts.js";
import { Page, type Check } from "./check.js";
import { checkEntities } from "./entities.js";

export async function checkPastMeetings(
  check: Check,
  repos: Pick<Repositories, "pastMeetings" | "participants">,
  artifacts: ArtifactFacts,
): Promise<void> {
  await checkEntities(check, {
    repo: repos.participants,
    isEntityKey: isDirectKey,
    claimKeys: (p) => [participantEmailClaimKey(p.past_meeting_uid, p.email)],
    orphaned: (p) => pastMeetingGone(repos, p),
  });
  const page = artifactListsPage(check, repos, artifacts);
  await checkEntities(check, {
    repo: repos.pastMeetings,
    isEntityKey: isDirectKey,
    claimKeys: (p) =>
      p.occurrence_id === undefined
        ? []
        : [pastMeetingStartClaimKey(p.meeting_uid, p.occurrence_id)],
    orphaned: () => Promise.resolve(null),
    seen: (pastMeeting, young) => {
      if (young || artifacts.youngParents.has(pastMeeting.uid)) return;
      page.parents.set(pastMeeting.uid, pastMeeting);
    },
    page,
  });
}

/**
 * Past meetings by uid, their artifact uid lists judged against one pass over each artifact
 * bucket's keys under them, as they are. A list that differs is read as replies read it, the
 * stored list replayed on from where it was stored (handlers/artifact-lists.ts); a repair replays
 * the keys from the start and stores that list with the sequence it reached, at the past
 * meeting's revision.
 */
function artifactListsPage(
  check: Check,
  repos: Pick<Repositories, "pastMeetings">,
  artifacts: ArtifactFacts,
) {
  return new Page<StoredPastMeeting>(async (page, number) => {
    for (const { repo, list } of artifacts.kinds) {
      const actualOf = new Map<string, Set<string>>();
      await check.countChildren(
        repo,
        encodeKeyPrefix(["index", "past-meeting"]),
        { parents: BUCKET_NAMES.pastMeetings, page: number },
        page,
        (pastMeetingUid, uid) => {
          const uids = actualOf.get(pastMeetingUid) ?? new Set<string>();
          actualOf.set(pastMeetingUid, uids.add(uid));
        },
      );
      await Promise.all(
        [...page].map(async ([uid, pastMeeting]) => {
          const actual = actualOf.get(uid) ?? new Set<string>();
          if (sameUids(pastMeeting[list], actual)) return;
          const shown = (await repo.uidsOfPastMeeting(pastMeeting, list)).uids;
          if (sameUids(shown, actual)) return;
          const missing = [...actual].filter((artifact) => !shown.includes(artifact));
          const dangling = shown.filter((artifact) => !actual.has(artifact));
          check.found(
            "artifact-list",
            BUCKET_NAMES.pastMeetings,
            uid,
            `${list}: ${missing.length} missing (${missing.join(", ")}), ${dangling.length} pointing nowhere (${dangling.join(", ")})`,
          );
          if (!check.repair) return;
          const replayed = await repo.uidsUnder(pastMeetingChildrenPrefix(uid));
          await modifyAtRevision(repos.pastMeetings, uid, (p) => ({
            ...p,
            [list]: replayed.uids,
            uid_lists_seq: { ...p.uid_lists_seq, [list]: replayed.seq },
          }));
        }),
      );
    }
  });
}

function sameUids(listed: readonly string[], actual: ReadonlySet<string>): boolean {
  return listed.length === actual.size && listed.every((uid) => actual.has(uid));
}
