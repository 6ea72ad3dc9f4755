// Per-occurrence counts of a meeting (docs/CONTRACT.md §5 "occurrence"): who is registered for an
// occurrence and how the registrants answered for it. Pure: the handlers read the facts from
// index keys and pass them in.
//
// Which answer applies to an occurrence, per registrant (the contract leaves precedence open):
// the most specific one wins: `single` for that occurrence, else the `this_and_following` with
// the latest start at or before it, else `all`. A registrant counts once per occurrence.

export type Response = "accepted" | "maybe" | "declined";
export type Scope = "single" | "all" | "this_and_following";

export interface Answer {
  registrant_uid: string;
  scope: Scope;
  /** Unix seconds as a string; absent for scope all. */
  occurrence_id: string | undefined;
  response: Response;
}

export interface RegistrantTally {
  /** Every registrant of the meeting. */
  total: number;
  /** Registrants for one occurrence only, by occurrence id. */
  byOccurrence: ReadonlyMap<string, number>;
}

export interface OccurrenceCounts {
  registrant_count: number;
  response_count_yes: number;
  response_count_no: number;
  response_count_maybe: number;
}

/** Registrants of every occurrence, plus those registered for this one only. */
export function registrantCount(tally: RegistrantTally, occurrenceId: string): number {
  let forOneOccurrence = 0;
  for (const count of tally.byOccurrence.values()) forOneOccurrence += count;
  return tally.total - forOneOccurrence + (tally.byOccurrence.get(occurrenceId) ?? 0);
}

/** The answer that applies to `occurrenceId` among one registrant's answers, if any. */
export function applicableAnswer(
  answers: readonly Answer[],
  occurrenceId: string,
): Answer | undefined {
  const at = Number(occurrenceId);
  let following: Answer | undefined;
  let all: Answer | undefined;
  for (const answer of answers) {
    if (answer.scope === "single") {
      if (answer.occurrence_id === occurrenceId) return answer;
    } else if (answer.scope === "all") {
      all = answer;
    } else if (Number(answer.occurrence_id) <= at) {
      if (
        following === undefined ||
        Number(answer.occurrence_id) > Number(following.occurrence_id)
      ) {
        following = answer;
      }
    }
  }
  return following ?? all;
}

export function countsFor(
  occurrenceId: string,
  tally: RegistrantTally,
  answersByRegistrant: ReadonlyMap<string, readonly Answer[]>,
): OccurrenceCounts {
  const counts: OccurrenceCounts = {
    registrant_count: registrantCount(tally, occurrenceId),
    response_count_yes: 0,
    response_count_no: 0,
    response_count_maybe: 0,
  };
  for (const answers of answersByRegistrant.values()) {
    const answer = applicableAnswer(answers, occurrenceId);
    if (answer?.response === "accepted") counts.response_count_yes += 1;
    else if (answer?.response === "declined") counts.response_count_no += 1;
    else if (answer?.response === "maybe") counts.response_count_maybe += 1;
  }
  return counts;
}

export function groupByRegistrant(answers: Iterable<Answer>): Map<string, Answer[]> {
  const grouped = new Map<string, Answer[]>();
  for (const answer of answers) {
    const list = grouped.get(answer.registrant_uid);
    if (list === undefined) grouped.set(answer.registrant_uid, [answer]);
    else list.push(answer);
  }
  return grouped;
}

/**
 * Whether a registration covers an occurrence: a registrant without occurrence_id is registered
 * for every occurrence, one with it for that occurrence only.
 */
export function registrationCovers(
  registrant: { occurrence_id?: string },
  occurrenceId: string | undefined,
): boolean {
  return registrant.occurrence_id === undefined || registrant.occurrence_id === occurrenceId;
}
