// How the sections of a run measure: a workload (subject and bodies), timed runs of it with
// warm-up, medians over rounds, and two workloads measured in alternating rounds so that a burst
// of other work on a shared machine falls on both.
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { runLoad, type LoadResult } from "./load.js";
import { RUN_MS, WARMUP_MS, ROUNDS } from "./settings.js";

export interface Workload {
  subject: string;
  body: (i: number) => string;
  check?: (msg: Msg) => string | undefined;
  headers?: MsgHdrs;
}

export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

/** Medians of each figure over rounds (requests and errors are summed). */
export function medianOf(results: readonly LoadResult[]): LoadResult {
  const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
  return {
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
    rps: median(results.map((r) => r.rps)),
    p50_ms: median(results.map((r) => r.p50_ms)),
    p99_ms: median(results.map((r) => r.p99_ms)),
    max_ms: Math.max(...results.map((r) => r.max_ms)),
  };
}

export function measure(
  nc: NatsConnection,
  workload: Workload,
  inFlight: number,
  durationMs = RUN_MS,
): Promise<LoadResult> {
  return runLoad({ nc, ...workload, inFlight, durationMs });
}

/** A short run whose figures are dropped; fails the run when the workload itself fails. */
export async function warmUp(
  nc: NatsConnection,
  workload: Workload,
  inFlight: number,
  durationMs = WARMUP_MS,
): Promise<void> {
  const result = await measure(nc, workload, inFlight, durationMs);
  if (result.errors > 0) {
    throw new Error(`${workload.subject} fails: ${result.firstError ?? "?"} (${result.errors}x)`);
  }
}

export interface Alternated {
  a: LoadResult;
  b: LoadResult;
  rounds: { a: LoadResult[]; b: LoadResult[] };
}

/** `a` and `b` warmed up, then measured in ROUNDS alternating rounds [a, b]: their medians. */
export async function alternate(
  nc: NatsConnection,
  { a, b, inFlight, label }: { a: Workload; b: Workload; inFlight: number; label: string },
  ncB: NatsConnection = nc,
): Promise<Alternated> {
  await warmUp(nc, a, inFlight);
  await warmUp(ncB, b, inFlight);
  const rounds = { a: [] as LoadResult[], b: [] as LoadResult[] };
  for (let round = 1; round <= ROUNDS; round++) {
    // Which goes first swaps every round: the second of a pair runs on a machine the first has
    // just heated (server caches, GC debt), which is no one's own cost.
    let ra: LoadResult;
    let rb: LoadResult;
    if (round % 2 === 1) {
      ra = await measure(nc, a, inFlight);
      rb = await measure(ncB, b, inFlight);
    } else {
      rb = await measure(ncB, b, inFlight);
      ra = await measure(nc, a, inFlight);
    }
    rounds.a.push(ra);
    rounds.b.push(rb);
    progress(`  ${label}, ${inFlight} in flight, round ${round}: ${summary(ra)} | ${summary(rb)}`);
  }
  return { a: medianOf(rounds.a), b: medianOf(rounds.b), rounds };
}

export function itemsCheck(expected: number): (msg: Msg) => string | undefined {
  return (msg) => {
    const { items } = msg.json<{ items: unknown[] }>();
    return items.length === expected
      ? undefined
      : `expected ${expected} items, got ${items.length}`;
  };
}

export function summary(r: LoadResult): string {
  const errors = r.errors > 0 ? `, ${r.errors} errors (${r.firstError ?? ""})` : "";
  return `${Math.round(r.rps)}/s p50 ${r.p50_ms.toFixed(2)} ms p99 ${r.p99_ms.toFixed(2)} ms${errors}`;
}
