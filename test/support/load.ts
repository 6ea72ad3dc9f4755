// A steady load for fault tests: `workers` loops, each sending one request at a time and recording
// what came back (a reply with its status, a timeout, no responders) with its timing, until
// stopped. A worker pauses briefly after a failure, as a client backing off would.
import { RequestError, TimeoutError } from "@nats-io/transport-node";
import type { Reply } from "./request.js";

export type OutcomeKind = "reply" | "timeout" | "no-responders" | "failed";

export interface Outcome {
  kind: OutcomeKind;
  /** The reply's status (200 or the error status), for kind "reply". */
  status?: number;
  /** `error.code` and `error.retry_after_ms` of an error reply. */
  code?: string;
  retryAfterMs?: number;
  /** The reply's body, for kind "reply". */
  body?: unknown;
  /** What the worker sent (its own counter), to find the request again. */
  seq: number;
  worker: number;
  sentAt: number;
  doneAt: number;
  message?: string;
}

export interface LoadOptions {
  workers: number;
  /** Sends request number `seq` of `worker`. */
  send(seq: number, worker: number): Promise<Reply<unknown>>;
  /** Pause after a failure (default 100 ms). */
  backoffMs?: number;
}

interface ErrorBody {
  error?: { code?: string; retry_after_ms?: number };
}

export class Load {
  readonly outcomes: Outcome[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly options: LoadOptions) {}

  start(): this {
    this.running = true;
    this.loops = Array.from({ length: this.options.workers }, (_, worker) => this.loop(worker));
    return this;
  }

  /** Stops sending and waits for the requests in flight to settle. */
  async stop(): Promise<Outcome[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.outcomes;
  }

  /** Outcomes that completed in [from, to). */
  between(from: number, to = Number.POSITIVE_INFINITY): Outcome[] {
    return this.outcomes.filter((o) => o.doneAt >= from && o.doneAt < to);
  }

  /** Waits until `count` more successful replies have come in than when this was called. */
  async successes(count: number, timeoutMs: number): Promise<void> {
    const target = this.outcomes.filter(isSuccess).length + count;
    const deadline = Date.now() + timeoutMs;
    while (this.outcomes.filter(isSuccess).length < target) {
      if (Date.now() > deadline) {
        throw new Error(`fewer than ${count} successful replies within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private async loop(worker: number): Promise<void> {
    const backoffMs = this.options.backoffMs ?? 100;
    while (this.running) {
      const seq = this.seq++;
      const sentAt = Date.now();
      const outcome = await this.options.send(seq, worker).then(
        (reply): Outcome => {
          const error = (reply.body as ErrorBody | undefined)?.error;
          return {
            kind: "reply",
            status: reply.status,
            body: reply.body,
            seq,
            worker,
            sentAt,
            doneAt: Date.now(),
            ...(error?.code === undefined ? {} : { code: error.code }),
            ...(error?.retry_after_ms === undefined ? {} : { retryAfterMs: error.retry_after_ms }),
          };
        },
        (err: unknown): Outcome => ({
          kind: classify(err),
          seq,
          worker,
          sentAt,
          doneAt: Date.now(),
          message: err instanceof Error ? err.message : String(err),
        }),
      );
      this.outcomes.push(outcome);
      if (!isSuccess(outcome)) await new Promise((resolve) => setTimeout(resolve, backoffMs));
    }
  }
}

export function isSuccess(outcome: Outcome): boolean {
  return outcome.kind === "reply" && outcome.status === 200;
}

function classify(err: unknown): OutcomeKind {
  if (err instanceof TimeoutError) return "timeout";
  if (err instanceof RequestError && err.isNoResponders()) return "no-responders";
  if (err instanceof RequestError && err.cause instanceof TimeoutError) return "timeout";
  return "failed";
}

/** Counts of outcomes by kind and status, e.g. `{ "200": 812, "503": 4, timeout: 1 }`. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const label = o.kind === "reply" ? String(o.status) : o.kind;
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

/** The longest stretch without a successful reply between `from` and `to` (ms). */
export function longestStall(outcomes: readonly Outcome[], from: number, to: number): number {
  const times = outcomes
    .filter(isSuccess)
    .map((o) => o.doneAt)
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let previous = from;
  let longest = 0;
  for (const t of [...times, to]) {
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return longest;
}
