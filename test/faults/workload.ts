// The load the cluster faults run under, and the reads that check it afterwards (Jepsen's shape:
// record what was acknowledged, then read all of it back). Each worker, one request at a time,
// repeats: create a meeting (with an Idempotency-Key), update its title at the revision it was
// given, register someone for it. Every 200 is recorded as the entity's acknowledged revision.
import type { NatsConnection } from "@nats-io/transport-node";
import pLimit from "p-limit";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { Load } from "../support/load.js";
import { request, type Page, type Reply } from "../support/request.js";
import { retryRead, type RetryReason } from "../support/fault-checks.js";

/**
 * The caller's deadline. The service answers by 2 × KV_TIMEOUT_MS + 500 ms (rpc/adapter.ts), 4.5 s
 * in these tests; twice that, so that a reply late on a busy 2-core machine is counted as the
 * reply it is (the figures report the slowest), and a timeout means no reply.
 */
export const CALLER_TIMEOUT_MS = 9000;

/**
 * How long one read of the read-back may go on failing (503, no reply in time) before the read-back
 * fails: after a fault, a loaded 2-core machine took longer than one request deadline to serve
 * reads again.
 */
const READ_BACK_BUDGET_MS = 60_000;

interface Written {
  uid: string;
  revision: number;
}

/** The latest acknowledged revision of every meeting and registrant a workload wrote. */
export class Acknowledged {
  readonly meetings = new Map<string, number>();
  /** Registrant uid to its revision and meeting. */
  readonly registrants = new Map<string, { revision: number; meetingUid: string }>();

  get size(): number {
    return this.meetings.size + this.registrants.size;
  }
}

/** Starts a create/update/register load of `workers` through `client`, recording into `acked`. */
export function startWorkload(
  client: NatsConnection,
  project: string,
  label: string,
  acked: Acknowledged,
  workers = 8,
): Load {
  // Per worker: the meeting it updates and registers for next, and its step in the cycle (a
  // registration moves the meeting's revision, so it comes after the update).
  const current = new Map<number, Written>();
  const steps = new Map<number, number>();
  // After a failure (no reply, or an error whose write may still have been stored: a 503) the
  // meeting held may have moved on: the next step starts a new one.
  const send = (seq: number, worker: number): Promise<Reply<unknown>> =>
    step(seq, worker).then(
      (reply) => {
        if (reply.status !== 200) current.delete(worker);
        return reply;
      },
      (err: unknown) => {
        current.delete(worker);
        throw err;
      },
    );
  const step = async (seq: number, worker: number): Promise<Reply<unknown>> => {
    const meeting = current.get(worker);
    const next = steps.get(worker) ?? 0;
    steps.set(worker, (next + 1) % 3);
    if (meeting === undefined || next === 0) {
      const reply = await request<Written>(
        client,
        "lfx.meetings.create",
        meetingInput({ project_uid: project, title: `${label} ${seq}` }),
        { headers: { "Idempotency-Key": `${label}-${seq}` }, timeoutMs: CALLER_TIMEOUT_MS },
      );
      if (reply.status === 200) {
        acked.meetings.set(reply.body.uid, reply.body.revision);
        current.set(worker, reply.body);
      }
      return reply;
    }
    if (next === 1) {
      const reply = await request<Written>(
        client,
        "lfx.meetings.update",
        { uid: meeting.uid, revision: meeting.revision, title: `${label} ${seq} updated` },
        { timeoutMs: CALLER_TIMEOUT_MS },
      );
      if (reply.status === 200) {
        acked.meetings.set(reply.body.uid, reply.body.revision);
        current.set(worker, reply.body);
      }
      return reply;
    }
    const reply = await request<Written>(
      client,
      "lfx.registrants.create",
      { meeting_uid: meeting.uid, email: uniqueEmail(label) },
      { timeoutMs: CALLER_TIMEOUT_MS },
    );
    if (reply.status === 200) {
      acked.registrants.set(reply.body.uid, {
        revision: reply.body.revision,
        meetingUid: meeting.uid,
      });
    }
    return reply;
  };
  return new Load({ workers, send }).start();
}

export interface ReadBack {
  /** Acknowledged writes read back (meetings and registrants). */
  acknowledged: number;
  /** Acknowledged entities not found (404), or found at an older revision than acknowledged. */
  lost: string[];
  older: string[];
  /** Entities a list shows more than once. */
  duplicated: string[];
  /** Acknowledged entities missing from their list. */
  unlisted: string[];
  /** Meetings whose `registrant_count` differs from the registrants listed for them. */
  miscounted: string[];
  /** Reads sent again while reading back, by reason (`retryRead`): a figure, not a finding. */
  retried: Partial<Record<RetryReason, number>>;
}

/** A read-back as a report's figures: how many writes were read back, and of each finding. */
export function readBackFigures(read: ReadBack) {
  return {
    acknowledged: read.acknowledged,
    lost: read.lost.length,
    older: read.older.length,
    duplicated: read.duplicated.length,
    unlisted: read.unlisted.length,
    miscounted: read.miscounted.length,
    read_back_retries: read.retried,
  };
}

/**
 * The read-back of `acknowledged` writes of which none was lost, moved back, doubled or miscounted,
 * however many reads it sent again (for `toEqual`).
 */
export function nothingLost(acknowledged: number): ReadBack {
  return {
    acknowledged,
    lost: [],
    older: [],
    duplicated: [],
    unlisted: [],
    miscounted: [],
    retried: expect.any(Object) as ReadBack["retried"],
  };
}

/**
 * Reads every acknowledged write back through the service: each entity by `get` (present, at its
 * acknowledged revision or later), each meeting of `project` and each registrant of a meeting by
 * its list (exactly once), and each meeting's `registrant_count` against its registrants listed.
 * Every read is retried as a client would (`retryRead`, for READ_BACK_BUDGET_MS at most).
 */
export async function readBack(
  client: NatsConnection,
  project: string,
  acked: Acknowledged,
): Promise<ReadBack> {
  const result: ReadBack = {
    acknowledged: acked.size,
    lost: [],
    older: [],
    duplicated: [],
    unlisted: [],
    miscounted: [],
    retried: {},
  };
  const read = <T>(subject: string, body: Record<string, unknown>) =>
    retryRead(
      () => request<T>(client, subject, body, { timeoutMs: 10_000 }),
      READ_BACK_BUDGET_MS,
      (reason) => (result.retried[reason] = (result.retried[reason] ?? 0) + 1),
    );
  /** Every item of a list, page by page; any reply but 200 after the retries fails the read-back. */
  const listAll = async <T>(subject: string, filter: Record<string, unknown>): Promise<T[]> => {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const page: Reply<Page<T>> = await read<Page<T>>(subject, {
        ...filter,
        limit: 1000,
        ...(cursor === null ? {} : { cursor }),
      });
      if (page.status !== 200) throw new Error(`${subject} answered ${page.status}`);
      items.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    return items;
  };
  const limit = pLimit(16);
  const judge = async (what: string, subject: string, uid: string, revision: number) => {
    const got = await read<Written>(subject, { uid });
    if (got.status === 404) result.lost.push(`${what} ${uid}`);
    else if (got.status !== 200) throw new Error(`${subject} ${uid} answered ${got.status}`);
    else if (got.body.revision < revision) result.older.push(`${what} ${uid}`);
  };
  await Promise.all([
    ...[...acked.meetings].map(([uid, revision]) =>
      limit(() => judge("meeting", "lfx.meetings.get", uid, revision)),
    ),
    ...[...acked.registrants].map(([uid, { revision }]) =>
      limit(() => judge("registrant", "lfx.registrants.get", uid, revision)),
    ),
  ]);

  const exactlyOnce = (what: string, listed: readonly string[], expected: Iterable<string>) => {
    const seen = new Set<string>();
    for (const uid of listed) {
      if (seen.has(uid)) result.duplicated.push(`${what} ${uid}`);
      seen.add(uid);
    }
    for (const uid of expected) if (!seen.has(uid)) result.unlisted.push(`${what} ${uid}`);
  };
  const meetings = await listAll<{ uid: string; registrant_count: number }>("lfx.meetings.list", {
    project_uid: project,
  });
  exactlyOnce(
    "meeting",
    meetings.map((m) => m.uid),
    acked.meetings.keys(),
  );
  const expectedRegistrants = new Map<string, string[]>();
  for (const [uid, { meetingUid }] of acked.registrants) {
    expectedRegistrants.set(meetingUid, [...(expectedRegistrants.get(meetingUid) ?? []), uid]);
  }
  const counts = new Map(meetings.map((m) => [m.uid, m.registrant_count]));
  await Promise.all(
    [...expectedRegistrants].map(([meetingUid, expected]) =>
      limit(async () => {
        const listed = await listAll<{ uid: string }>("lfx.registrants.list", {
          meeting_uid: meetingUid,
        });
        exactlyOnce(
          "registrant",
          listed.map((r) => r.uid),
          expected,
        );
        const counted = counts.get(meetingUid);
        if (typeof counted === "number" && counted !== listed.length) {
          result.miscounted.push(`meeting ${meetingUid}`);
        }
      }),
    ),
  );
  return result;
}
