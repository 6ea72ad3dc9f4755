// Past meetings and their participants (`past-meetings`, `past-meeting-participants`): each
// participant with its index key, its email claim and its past meeting; each past meeting with
// its index keys and start claim (it outlives its meeting: never an orphan); each index key and
// claim with its entity (entities.ts); and each past meeting's recording / transcript / summary
// uid lists against the artifacts found by their `index/past-meeting/{past_meeting_uid}/{uid}`
// keys, a page of past meetings at a time (one pass over each artifact bucket per page).
import { BUCKET_NAMES } from "../../store/kv/buckets.js";
import { isDirectKey } from "../../store/kv/keys.js";
import { modifyAtRevision } from "../../store/kv/modify.js";
import { participantEmailClaimKey } from "../../store/resources/participants.js";
import {
  pastMeetingStartClaimKey,
  type StoredPastMeeting,
} from "../../store/resources/past-meetings.js";
import type { Repositories } from "../../store/resources/repositories.js";
import { pastMeetingGone, type ArtifactFacts } from "./artifacts.js";
import { Page, type Check } from "./check.js";
import { checkEntities } from "./entities.js";

type ArtifactLists = Pick<StoredPastMeeting, "recording_uids" | "transcript_uids" | "summary_uids">;

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
      const { recording_uids, transcript_uids, summary_uids } = pastMeeting;
      page.parents.set(pastMeeting.uid, { recording_uids, transcript_uids, summary_uids });
    },
    page,
  });
}

/**
 * Past meetings by uid with their artifact uid lists, judged against one pass over each artifact
 * bucket's index keys. A repair takes out only the uids judged dangling and adds only those
 * judged missing: an artifact added after the count stays listed.
 */
function artifactListsPage(
  check: Check,
  repos: Pick<Repositories, "pastMeetings">,
  artifacts: ArtifactFacts,
) {
  return new Page<ArtifactLists>(async (page, number) => {
    for (const { repo, list, corrections } of artifacts.kinds) {
      const actualOf = new Map<string, Set<string>>();
      await check.countChildren(
        repo,
        corrections,
        { parents: BUCKET_NAMES.pastMeetings, page: number },
        page,
        (pastMeetingUid, uid) => {
          const uids = actualOf.get(pastMeetingUid) ?? new Set<string>();
          actualOf.set(pastMeetingUid, uids.add(uid));
        },
      );
      const repairs: Promise<unknown>[] = [];
      for (const [uid, lists] of page) {
        const actual = actualOf.get(uid) ?? new Set<string>();
        const listed = new Set(lists[list]);
        const missing = [...actual].filter((artifact) => !listed.has(artifact));
        const dangling = [...listed].filter((artifact) => !actual.has(artifact));
        if (missing.length === 0 && dangling.length === 0) continue;
        check.found(
          "artifact-list",
          BUCKET_NAMES.pastMeetings,
          uid,
          `${list}: ${missing.length} missing (${missing.join(", ")}), ${dangling.length} pointing nowhere (${dangling.join(", ")})`,
        );
        if (check.repair) {
          repairs.push(
            modifyAtRevision(repos.pastMeetings, uid, (p) => ({
              ...p,
              [list]: [
                ...p[list].filter((artifact) => !dangling.includes(artifact)),
                ...missing.filter((artifact) => !p[list].includes(artifact)),
              ],
            })),
          );
        }
      }
      await Promise.all(repairs);
    }
  });
}
