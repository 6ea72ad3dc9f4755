// Artifacts (`past-meeting-recordings`, `-transcripts`, `-summaries`): each artifact with its
// index key and its past meeting; each index key with its artifact (entities.ts). Gathers what
// the past meetings' uid-list check needs (past-meetings.ts).
import { isDirectKey } from "../../store/kv/keys.js";
import type { Repositories } from "../../store/resources/repositories.js";
import type { StoredPastMeeting, UidList } from "../../store/resources/past-meetings.js";
import { exists, type Check } from "./check.js";
import { checkEntities } from "./entities.js";

type ArtifactRepos = Pick<Repositories, "recordings" | "transcripts" | "summaries">;

/** One artifact bucket and the uid list of the past meeting that names its artifacts. */
export interface ArtifactKind {
  repo: ArtifactRepos[keyof ArtifactRepos];
  list: UidList;
}

/** What the artifact walks leave for judging the past meetings' uid lists. */
export interface ArtifactFacts {
  kinds: ArtifactKind[];
  /** Past meetings with an artifact written within the grace period: not judged. */
  youngParents: Set<string>;
}

/** Why a child of a past meeting is an orphan, or null. */
export async function pastMeetingGone(
  repos: Pick<Repositories, "pastMeetings">,
  child: { past_meeting_uid: string },
): Promise<string | null> {
  return (await exists(repos.pastMeetings, child.past_meeting_uid))
    ? null
    : `past meeting ${child.past_meeting_uid} does not exist`;
}

export async function checkArtifacts(
  check: Check,
  repos: ArtifactRepos & Pick<Repositories, "pastMeetings">,
): Promise<ArtifactFacts> {
  const lists = {
    recordings: "recording_uids",
    transcripts: "transcript_uids",
    summaries: "summary_uids",
  } as const satisfies Record<keyof ArtifactRepos, keyof StoredPastMeeting>;
  const facts: ArtifactFacts = {
    kinds: (["recordings", "transcripts", "summaries"] as const).map((id) => ({
      repo: repos[id],
      list: lists[id],
    })),
    youngParents: new Set(),
  };
  for (const { repo } of facts.kinds) {
    await checkEntities<{ uid: string; past_meeting_uid: string }>(check, {
      repo,
      isEntityKey: isDirectKey,
      claimKeys: () => [],
      orphaned: (artifact) => pastMeetingGone(repos, artifact),
      seen: (artifact, young) => {
        if (young) facts.youngParents.add(artifact.past_meeting_uid);
      },
    });
  }
  return facts;
}
