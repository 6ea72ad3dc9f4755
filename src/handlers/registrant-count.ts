// A meeting's registrant_count, exact by construction (docs/CONTRACT.md §5: it always equals the
// number of its registrants). A registrant counts while its key under the meeting exists (the
// commit key of store/resources/registrants.ts: written after the registrant, only where absent,
// removed first and at its revision), so the count is those keys' messages folded: +1 a put, -1 a
// delete (KvRepository.countUnder). The meeting stores the fold as of a stream sequence of
// meeting-registrants (`registrant_count`, `registrant_count_seq`); a read adds the messages
// written since, so a stored figure left behind by a crash or a lost write is never shown, and
// the next registration's fold catches it up. Writers fold after each registration and delete,
// the requests of one meeting on one instance into one write (GroupCommit). Before a meeting's
// first registrant is written the meeting is marked (`registrations_begun`): reads of a meeting
// without the mark know it has no registrants, and look for none.
import { notFound } from "../errors.js";
import type { Logger } from "../logger.js";
import { GroupCommit } from "../store/kv/group-commit.js";
import { directKey } from "../store/kv/keys.js";
import { modifyAtRevision } from "../store/kv/modify.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import { onePerInstance, type HandlerDeps } from "./deps.js";

export interface RegistrantCount {
  /**
   * The number when it needs no read: 0 for a meeting no registration has begun for. Otherwise
   * undefined, and the count is what the meeting's keys say (`current`, or the keys themselves).
   */
  knownWithoutReading(meeting: StoredMeeting): number | undefined;
  /**
   * The number of the meeting's registrants now: its stored fold plus what came after it; no
   * read at all for a meeting no registration has begun for (most meetings, and every read of a
   * meeting just created).
   */
  current(meeting: StoredMeeting): Promise<number>;
  /**
   * Marks the meeting before its first registrant is written (`registrations_begun`), once per
   * meeting: one write of the meeting, at its revision. 404 when the meeting is gone.
   */
  begin(meeting: StoredMeeting): Promise<void>;
  /**
   * Stores the fold of what is committed now, at the meeting's revision. A failure is logged and
   * not thrown: the registration it follows is committed, and reads count on from the last fold.
   */
  refresh(meetingUid: string, log: Logger): Promise<void>;
}

/** One per instance, so that one group commit serves every writer of the instance. */
export const registrantCount = onePerInstance(({ repos, now }: HandlerDeps): RegistrantCount => {
  const commit = new GroupCommit<StoredMeeting, null>({
    repo: repos.meetings,
    async apply(meeting) {
      const { count, seq } = await repos.registrants.countOfMeeting(meeting);
      if (seq === meeting.registrant_count_seq) return meeting;
      return {
        ...meeting,
        registrant_count: count,
        registrant_count_seq: seq,
        ...(count === meeting.registrant_count ? {} : { updated_at: now().toISOString() }),
      };
    },
  });

  /**
   * No registration has begun for the meeting. A meeting stored before the mark existed has no
   * fold either: it is never taken for one, and is always counted.
   */
  const unbegun = (meeting: StoredMeeting): boolean =>
    meeting.registrations_begun !== true && meeting.registrant_count_seq !== undefined;
  const knownWithoutReading = (meeting: StoredMeeting): number | undefined =>
    unbegun(meeting) ? meeting.registrant_count : undefined;

  return {
    knownWithoutReading,
    async current(meeting) {
      return (
        knownWithoutReading(meeting) ?? (await repos.registrants.countOfMeeting(meeting)).count
      );
    },
    async begin(meeting) {
      if (!unbegun(meeting)) return;
      const marked = await modifyAtRevision(repos.meetings, directKey(meeting.uid), (current) =>
        current.registrations_begun === true
          ? null
          : { ...current, registrations_begun: true as const },
      );
      if (marked === null) throw notFound("meeting", meeting.uid);
    },
    async refresh(meetingUid, log) {
      try {
        await commit.add(directKey(meetingUid), null);
      } catch (err) {
        log.warn(
          { err, meeting_uid: meetingUid },
          "registrant_count not stored; reads count on from the last stored fold",
        );
      }
    },
  };
});
