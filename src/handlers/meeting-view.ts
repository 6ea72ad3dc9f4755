// How a stored meeting is shown (docs/CONTRACT.md §5 "meeting", "occurrence"): its occurrences are
// computed when read, because "not ended yet" depends on the time of the read, with their counts
// from index keys alone (registrants per occurrence, RSVP answers), never from other entities.
import {
  countsFor,
  type Answer,
  groupByRegistrant,
  type OccurrenceCounts,
  type RegistrantTally,
} from "../domain/attendance.js";
import {
  editedOccurrencesNotEnded,
  ruleScheduleOf,
  type EditedOccurrence,
} from "../domain/occurrence-edits.js";
import { isOccurrence } from "../domain/occurrences.js";
import { invalidField, invalidRequest } from "../errors.js";
import type { Meeting, Occurrence } from "../generated/schema-types.js";
import { REPLY_ENVELOPE_BYTES } from "../store/kv/paging.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import {
  occurrenceOfIndexKey,
  registrantsOfMeetingPrefix,
  registrantsOfOccurrencesPrefix,
} from "../store/resources/registrants.js";
import { answersOfMeetingPrefix, parseAnswerKey } from "../store/resources/rsvps.js";
import { lastSegment } from "../store/kv/keys.js";
import { PresentKeysCache } from "../store/kv/present-keys-cache.js";
import { onePerInstance, type HandlerDeps } from "./deps.js";
import { registrantCount } from "./registrant-count.js";

/** docs/CONTRACT.md §5: a meeting shows up to 50 upcoming occurrences. */
export const MEETING_OCCURRENCES_SHOWN = 50;

/**
 * The meeting as clients see it (events, replies): without the internal cancellation list and
 * occurrence edits, which show through its occurrences.
 */
export function shownMeeting(meeting: StoredMeeting): Omit<Meeting, "revision" | "occurrences"> {
  const {
    cancelled_occurrences: _cancelled,
    occurrence_edits: _edits,
    registrant_count_seq: _countedUpTo,
    registrations_begun: _begun,
    ...shown
  } = meeting;
  return { ...shown, email_delivery_error_count: meeting.email_delivery_error_count ?? 0 };
}

/** What an occurrence adds to a reply besides its title and description: id, times, counts. */
const OCCURRENCE_BYTES = 300;

/**
 * A meeting is refused (400) when its reply, with every occurrence it may show, could exceed the
 * server's max payload: such a meeting would be stored but could never be sent to anyone, and its
 * create or update would fail with a 500 after the write.
 */
export function checkMeetingFitsReply(meeting: StoredMeeting, maxReplyBytes: number): void {
  const occurrences = meeting.recurrence === undefined ? 1 : MEETING_OCCURRENCES_SHOWN;
  // An edited occurrence may show its own title and description (docs/CONTRACT.md §12).
  const edits = [
    ...(meeting.occurrence_edits?.following ?? []),
    ...(meeting.occurrence_edits?.single ?? []),
  ];
  const titleBytes = Math.max(
    jsonBytes(meeting.title),
    ...edits.map((e) => jsonBytes(e.title ?? "")),
  );
  const descriptionBytes = Math.max(
    jsonBytes(meeting.description ?? ""),
    ...edits.map((e) => jsonBytes(e.description ?? "")),
  );
  const perOccurrence = titleBytes + descriptionBytes + OCCURRENCE_BYTES;
  const bound =
    jsonBytes(shownMeeting(meeting)) + occurrences * perOccurrence + REPLY_ENVELOPE_BYTES;
  // The stored record, edits included, is one KV message: it must fit the max payload too.
  if (bound > maxReplyBytes || jsonBytes(meeting) + REPLY_ENVELOPE_BYTES > maxReplyBytes) {
    throw invalidRequest(
      `the meeting would be too large: with its occurrences a reply could exceed ${maxReplyBytes} bytes`,
      [{ path: "", message: `makes the meeting's reply larger than ${maxReplyBytes} bytes` }],
    );
  }
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/**
 * A client-given occurrence id (a registrant's or an RSVP's) must name an occurrence of the
 * meeting that is not cancelled.
 */
export function checkOccurrenceOf(meeting: StoredMeeting, occurrenceId: string | undefined): void {
  if (occurrenceId === undefined) return;
  if (
    !isOccurrence(ruleScheduleOf(meeting), occurrenceId) ||
    cancelledOf(meeting).has(occurrenceId)
  ) {
    throw invalidField("/occurrence_id", `is not an occurrence of meeting ${meeting.uid}`);
  }
}

export function cancelledOf(meeting: StoredMeeting): ReadonlySet<string> {
  return new Set(meeting.cancelled_occurrences ?? []);
}

export interface MeetingView {
  /**
   * The meeting with its upcoming occurrences and its registrant_count as it is now
   * (`registrants` when the caller knows it).
   */
  reply(meeting: StoredMeeting, revision: number, registrants?: number): Promise<Meeting>;
  /**
   * Occurrences as replies, with their counts and whether they are cancelled. `registrants`:
   * the meeting's registrant count now, when the caller has it.
   */
  describe(
    meeting: StoredMeeting,
    times: readonly EditedOccurrence[],
    registrants?: number,
  ): Promise<Occurrence[]>;
}

/** A meeting's registrant count and the counts of each of its occurrences. */
interface MeetingCounts {
  registrants: number;
  of(occurrenceId: string): OccurrenceCounts;
}

/** The counts of a meeting nobody has registered for. */
const NO_REGISTRANTS: MeetingCounts = {
  registrants: 0,
  of: () => ({
    registrant_count: 0,
    response_count_yes: 0,
    response_count_no: 0,
    response_count_maybe: 0,
  }),
};

/**
 * The index keys a meeting's counts are made of, remembered per instance between reads (at most
 * COUNTED_KEYS_CACHED of them, about 15 MB): a big meeting's next read costs three gets, not a
 * pass over its 40,000 keys (store/kv/present-keys-cache.ts).
 */
const COUNTED_KEYS_CACHED = 100_000;
const countedKeys = onePerInstance(() => new PresentKeysCache(COUNTED_KEYS_CACHED));

/**
 * What a meeting's counts were derived from (the sequences its keys were read up to) and what
 * they gave so far, for the COUNTS_MEMOS meetings read last: the same keys give the same counts,
 * so a big meeting read again unchanged costs no pass over its keys in memory either (measured:
 * 280-340 ms of a 30,000-registrant meeting's get went to that). A few KB each.
 */
interface CountsMemo {
  from: string;
  tally: RegistrantTally;
  counts: Map<string, OccurrenceCounts>;
}
const COUNTS_MEMOS = 1000;
const countsMemos = onePerInstance(() => new Map<string, CountsMemo>());

export function createMeetingView(deps: HandlerDeps): MeetingView {
  const { repos, now } = deps;

  const registrantsNow = registrantCount(deps);
  const presentKeys = countedKeys(deps);
  const memos = countsMemos(deps);

  /**
   * The meeting's registrant count and per-occurrence counts from the index keys, as they are
   * when asked. Only the keys of committed registrants count (those with their key under the
   * meeting, registrant-count.ts): an occurrence or answer key left by a create or delete that
   * stopped half-way is not one. The registrant count is the number of those keys, read with
   * the others: asking the meeting's fold as well would ask the server for the last of the same
   * keys twice, which costs it a pass over their subjects each time (3-4 ms at 30,000).
   */
  async function countsOf(meeting: StoredMeeting): Promise<MeetingCounts> {
    const [occurrenceKeys, meetingKeys, answerKeys] = await Promise.all([
      presentKeys.presentKeys(repos.registrants, registrantsOfOccurrencesPrefix(meeting.uid)),
      presentKeys.presentKeys(repos.registrants, registrantsOfMeetingPrefix(meeting.uid)),
      presentKeys.presentKeys(repos.rsvps, answersOfMeetingPrefix(meeting.uid)),
    ]);
    // Synchronous from here, including the function returned: the sets are the cache's.
    const from = [occurrenceKeys.seq, meetingKeys.seq, answerKeys.seq].join(".");
    let committed: Set<string> | undefined;
    const committedUids = () => (committed ??= new Set([...meetingKeys.keys].map(lastSegment)));
    let memo = memos.get(meeting.uid);
    memos.delete(meeting.uid);
    if (memo?.from !== from) {
      const byOccurrence = new Map<string, number>();
      for (const key of occurrenceKeys.keys) {
        if (!committedUids().has(lastSegment(key))) continue;
        const occurrenceId = occurrenceOfIndexKey(key);
        byOccurrence.set(occurrenceId, (byOccurrence.get(occurrenceId) ?? 0) + 1);
      }
      const tally = { total: meetingKeys.keys.size, byOccurrence };
      memo = { from, tally, counts: new Map() };
    }
    memos.set(meeting.uid, memo);
    for (const [oldest] of memos) {
      if (memos.size <= COUNTS_MEMOS) break;
      memos.delete(oldest);
    }
    const { tally, counts } = memo;
    let answers: Map<string, Answer[]> | undefined;
    return {
      registrants: tally.total,
      of(occurrenceId) {
        let found = counts.get(occurrenceId);
        if (found === undefined) {
          answers ??= groupByRegistrant(
            [...answerKeys.keys]
              .map(parseAnswerKey)
              .filter((answer) => committedUids().has(answer.registrant_uid)),
          );
          found = countsFor(occurrenceId, tally, answers);
          counts.set(occurrenceId, found);
        }
        return found;
      },
    };
  }

  /**
   * Counts for occurrences. `registrants`: the meeting's registrant count, when the caller knows
   * it. A meeting without registrants has no registrant or RSVP index keys that count (an RSVP
   * needs a registrant), so its counts are 0 without reading them: this saves the stream reads
   * on every create and on every read of such a meeting (bench/).
   */
  async function occurrenceCounts(
    meeting: StoredMeeting,
    registrants?: number,
  ): Promise<MeetingCounts> {
    const known = registrants ?? registrantsNow.knownWithoutReading(meeting);
    return known === 0 ? NO_REGISTRANTS : countsOf(meeting);
  }

  function shownOccurrences(
    times: readonly EditedOccurrence[],
    counts: MeetingCounts,
  ): Occurrence[] {
    return times.map((time): Occurrence => ({
      occurrence_id: time.occurrence_id,
      start_time: time.start_time,
      duration: time.duration,
      title: time.title,
      ...(time.description === undefined ? {} : { description: time.description }),
      is_cancelled: time.is_cancelled,
      ...counts.of(time.occurrence_id),
    }));
  }

  async function describe(
    meeting: StoredMeeting,
    times: readonly EditedOccurrence[],
    registrants?: number,
  ) {
    if (times.length === 0) return [];
    return shownOccurrences(times, await occurrenceCounts(meeting, registrants));
  }

  return {
    describe,
    async reply(meeting, revision, known) {
      const upcoming = editedOccurrencesNotEnded(meeting, now().getTime(), {
        limit: MEETING_OCCURRENCES_SHOWN,
        skipCancelled: true,
      });
      // With occurrences to show, the count comes with theirs (one read of the meeting's keys).
      const counts = upcoming.length === 0 ? undefined : await occurrenceCounts(meeting, known);
      return {
        ...shownMeeting(meeting),
        registrant_count: known ?? counts?.registrants ?? (await registrantsNow.current(meeting)),
        occurrences: counts === undefined ? [] : shownOccurrences(upcoming, counts),
        revision,
      };
    },
  };
}
