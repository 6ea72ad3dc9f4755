// The requests the sections create their data with: meetings as a committee would schedule them,
// daily series and their occurrences, and many creates at once through the service.
import type { NatsConnection } from "@nats-io/nats-core";
import { ok } from "../test/support/request.js";
import { forEachLimited } from "./load.js";

const FIRST_START = Date.parse("2030-01-15T15:00:00Z");
const DAY_MS = 86_400_000;
export const FIRST_JOIN = new Date(FIRST_START + 60_000).toISOString();

export function meetingRequest(projectUid: string, extra: Record<string, unknown> = {}) {
  return {
    project_uid: projectUid,
    title: "Technical Steering Committee",
    description: "Weekly sync of the technical steering committee",
    start_time: new Date(FIRST_START).toISOString(),
    duration: 60,
    timezone: "UTC",
    organizers: ["alice", "bob"],
    ...extra,
  };
}

export const DAILY = { recurrence: { type: 1, repeat_interval: 1 } };

/** Day `day` of a daily series starting at FIRST_START: its occurrence id and start. */
export function occurrence(day: number): { occurrence_id: string; start_time: string } {
  const start = FIRST_START + day * DAY_MS;
  return { occurrence_id: String(start / 1000), start_time: new Date(start).toISOString() };
}

/** A past-meetings.start for an occurrence: its id, started on time. */
export function startedOnTime(o: { occurrence_id: string; start_time: string }) {
  return { occurrence_id: o.occurrence_id, started_at: o.start_time };
}

/** A request that must succeed, with a deadline for a loaded machine. */
export function call<T>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  headers?: Record<string, string>,
): Promise<T> {
  return ok<T>(nc, subject, body, {
    timeoutMs: 30_000,
    ...(headers === undefined ? {} : { headers }),
  });
}

/** `count` requests to `subject`, `concurrency` at a time; the replies in request order. */
export async function callMany<T>(
  nc: NatsConnection,
  subject: string,
  count: number,
  body: (n: number) => unknown,
  concurrency = 64,
): Promise<T[]> {
  const replies: T[] = new Array<T>(count);
  await forEachLimited(
    Array.from({ length: count }, (_, n) => n),
    concurrency,
    async (n) => {
      replies[n] = await call<T>(nc, subject, body(n));
    },
  );
  return replies;
}
