// A big meeting against a small one (issue 12): a daily meeting with BENCH_BIG_REGISTRANTS
// (30,000) registrants of whom BENCH_BIG_RSVPS (10,000) answered, and one with 50 of whom 17
// answered, both made THROUGH THE SERVICE (lfx.registrants.create and lfx.rsvps.create, 64 in
// flight), so that the figures follow whatever the service stores and however it stores it.
// Measured at 1 in flight, alternating rounds [small, big]: meetings.get, a page of 20
// registrants, and the page of 20 after the first DEEP_OFFSET (20,000) registrants of the big
// one, reached by following next_cursor with pages of 1,000.
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import type { LoadResult } from "./load.js";
import type { Page } from "../test/support/request.js";
import { call, callMany, DAILY, meetingRequest } from "./fixtures.js";
import { alternate, itemsCheck, progress, type Workload } from "./measure.js";
import { BIG_REGISTRANTS, BIG_RSVPS, DEEP_OFFSET } from "./settings.js";

const SMALL_REGISTRANTS = 50;
const SMALL_RSVPS = 17;
const PAGE = 20;
const LONG_PAGE = 1000;

interface Occurrence {
  occurrence_id: string;
  registrant_count: number;
  response_count_yes: number;
}

export interface SmallVsBig {
  small: LoadResult;
  big: LoadResult;
  rounds: { small: LoadResult[]; big: LoadResult[] };
}

export interface BigMeetingReport {
  registrants: number;
  rsvps: number;
  /** Creates per second through the service while the big meeting was made. */
  registrants_create_per_s: number;
  rsvps_create_per_s: number;
  /** Every occurrence of both meetings shows exactly the registrants and RSVPs made. */
  counts_exact: boolean;
  counts_found: string;
  get: SmallVsBig;
  page: SmallVsBig;
  /** The small meeting's first page against the big meeting's page after `deep_offset`. */
  deep_page: SmallVsBig;
  deep_offset: number;
}

interface Made {
  uid: string;
  registrants: number;
  rsvps: number;
}

async function makeMeeting(
  nc: NatsConnection,
  label: string,
  registrants: number,
  rsvps: number,
): Promise<Made & { seconds: { registrants: number; rsvps: number } }> {
  const { uid } = await call<{ uid: string }>(
    nc,
    "lfx.meetings.create",
    meetingRequest(randomUUID(), DAILY),
  );
  let started = performance.now();
  const made = await callMany<{ uid: string }>(nc, "lfx.registrants.create", registrants, (n) => ({
    meeting_uid: uid,
    email: `${label}.${n}@example.org`,
    first_name: "Ada",
    last_name: "Lovelace",
  }));
  const registrantSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  // Every answer is for all occurrences, so that each occurrence's count is known exactly.
  await callMany(nc, "lfx.rsvps.create", rsvps, (n) => ({
    meeting_uid: uid,
    registrant_uid: made[n]?.uid,
    response: "accepted",
    scope: "all",
  }));
  const rsvpSeconds = (performance.now() - started) / 1000;
  return {
    uid,
    registrants,
    rsvps,
    seconds: { registrants: registrantSeconds, rsvps: rsvpSeconds },
  };
}

/** Whether every occurrence shown counts the meeting's registrants and RSVPs exactly. */
async function countsOf(
  nc: NatsConnection,
  meeting: Made,
): Promise<{ exact: boolean; found: string }> {
  const { registrant_count, occurrences } = await call<{
    registrant_count: number;
    occurrences: Occurrence[];
  }>(nc, "lfx.meetings.get", { uid: meeting.uid });
  const wrong = occurrences.filter(
    (o) => o.registrant_count !== meeting.registrants || o.response_count_yes !== meeting.rsvps,
  );
  const first = occurrences[0];
  return {
    exact: registrant_count === meeting.registrants && wrong.length === 0 && first !== undefined,
    found:
      `registrant_count ${registrant_count}; ${occurrences.length} occurrences, ${wrong.length} ` +
      `off; first: ${first?.registrant_count ?? "-"} registrants, ${first?.response_count_yes ?? "-"} yes`,
  };
}

/** The cursor of the page that follows the first `offset` registrants of `meetingUid`. */
async function cursorAfter(
  nc: NatsConnection,
  meetingUid: string,
  offset: number,
): Promise<string> {
  let cursor: string | null = null;
  for (let seen = 0; seen < offset;) {
    const limit = Math.min(LONG_PAGE, offset - seen);
    const page: Page<unknown> = await call<Page<unknown>>(nc, "lfx.registrants.list", {
      meeting_uid: meetingUid,
      limit,
      ...(cursor === null ? {} : { cursor }),
    });
    seen += page.items.length;
    cursor = page.next_cursor;
    if (cursor === null) throw new Error(`the meeting has only ${seen} registrants`);
  }
  if (cursor === null) throw new Error("no registrants to page through");
  return cursor;
}

/** `settle` waits until what the creates set off is done, so that the reads are measured alone. */
export async function measureBigMeeting(
  nc: NatsConnection,
  settle: () => Promise<void>,
): Promise<BigMeetingReport> {
  progress(
    `big meeting: creating a meeting with ${BIG_REGISTRANTS.toLocaleString("en-US")} registrants and ${BIG_RSVPS.toLocaleString("en-US")} RSVPs through the service`,
  );
  const big = await makeMeeting(nc, "big", BIG_REGISTRANTS, BIG_RSVPS);
  const registrantsPerS = BIG_REGISTRANTS / big.seconds.registrants;
  const rsvpsPerS = BIG_RSVPS / big.seconds.rsvps;
  progress(
    `  registrants.create ${Math.round(registrantsPerS)}/s, rsvps.create ${Math.round(rsvpsPerS)}/s`,
  );
  const small = await makeMeeting(nc, "small", SMALL_REGISTRANTS, SMALL_RSVPS);
  const counts = await Promise.all([countsOf(nc, big), countsOf(nc, small)]);
  progress(`  counts of the big meeting: ${counts[0].found}`);
  await settle();

  const get = (uid: string): Workload => ({
    subject: "lfx.meetings.get",
    body: () => JSON.stringify({ uid }),
  });
  const page = (uid: string, cursor?: string): Workload => ({
    subject: "lfx.registrants.list",
    body: () =>
      JSON.stringify({
        meeting_uid: uid,
        limit: PAGE,
        ...(cursor === undefined ? {} : { cursor }),
      }),
    check: itemsCheck(PAGE),
  });
  const deepCursor = await cursorAfter(nc, big.uid, DEEP_OFFSET);
  const compare = async (label: string, a: Workload, b: Workload): Promise<SmallVsBig> => {
    const {
      a: smallResult,
      b: bigResult,
      rounds,
    } = await alternate(nc, {
      a,
      b,
      inFlight: 1,
      label: `${label}: small | big`,
    });
    return { small: smallResult, big: bigResult, rounds: { small: rounds.a, big: rounds.b } };
  };
  return {
    registrants: BIG_REGISTRANTS,
    rsvps: BIG_RSVPS,
    registrants_create_per_s: registrantsPerS,
    rsvps_create_per_s: rsvpsPerS,
    counts_exact: counts.every((c) => c.exact),
    counts_found: counts[0].found,
    get: await compare("meetings.get", get(small.uid), get(big.uid)),
    page: await compare("a page of 20 registrants", page(small.uid), page(big.uid)),
    deep_page: await compare(
      `the page after ${DEEP_OFFSET.toLocaleString("en-US")}`,
      page(small.uid),
      page(big.uid, deepCursor),
    ),
    deep_offset: DEEP_OFFSET,
  };
}
