// The load generator: a closed loop of `inFlight` concurrent requests against one subject for a
// fixed time, each timed from send to reply. Replies with the micro error header count as errors
// (and so does a timeout); their latencies still count, as a caller would have waited for them.
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";

export interface LoadSpec {
  nc: NatsConnection;
  subject: string;
  /** The body of the i-th request (i counts across runs of one workload, never repeats). */
  body: (i: number) => string;
  inFlight: number;
  durationMs: number;
  /** Extra check of a successful reply (e.g. a list's item count): a message when it is wrong. */
  check?: (msg: Msg) => string | undefined;
  timeoutMs?: number;
  /** Sent with every request (e.g. a caller's `Authorization`). */
  headers?: MsgHdrs;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** The first error seen, to tell a broken workload from a slow one. */
  firstError?: string;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

const ERROR_CODE_HEADER = "Nats-Service-Error-Code";
const ERROR_HEADER = "Nats-Service-Error";

function errorOf(msg: Msg): string | undefined {
  const code = msg.headers?.get(ERROR_CODE_HEADER) ?? "";
  if (code === "") return undefined;
  return `${code} ${msg.headers?.get(ERROR_HEADER) ?? ""}`;
}

/** The q-quantile of sorted values, by the nearest-rank method. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const { nc, subject, inFlight, durationMs, check, timeoutMs = 10_000, headers } = spec;
  const options = { timeout: timeoutMs, ...(headers === undefined ? {} : { headers }) };
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const fail = (message: string) => {
    errors += 1;
    firstError ??= message;
  };
  const started = performance.now();
  const endAt = started + durationMs;
  let lastReply = started;

  async function worker(): Promise<void> {
    while (performance.now() < endAt) {
      const payload = spec.body(nextIndex());
      const sent = performance.now();
      try {
        const msg = await nc.request(subject, payload, options);
        const error = errorOf(msg) ?? check?.(msg);
        if (error !== undefined) fail(error);
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
      }
      lastReply = performance.now();
      latencies.push(lastReply - sent);
    }
  }

  await Promise.all(Array.from({ length: inFlight }, () => worker()));
  const sorted = Float64Array.from(latencies).sort();
  const seconds = (lastReply - started) / 1000;
  return {
    requests: latencies.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    rps: latencies.length / seconds,
    p50_ms: quantile(sorted, 0.5),
    p99_ms: quantile(sorted, 0.99),
    max_ms: sorted[sorted.length - 1] ?? NaN,
  };
}

/**
 * An open loop: `ratePerS` requests a second for `durationMs`, each sent on time whether or not
 * earlier ones were answered, so that the work asked of the system is the same in every run.
 */
export async function runAtRate(
  spec: Omit<LoadSpec, "inFlight"> & { ratePerS: number },
): Promise<LoadResult> {
  const { nc, subject, durationMs, ratePerS, check, timeoutMs = 10_000, headers } = spec;
  const options = { timeout: timeoutMs, ...(headers === undefined ? {} : { headers }) };
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const pending: Array<Promise<void>> = [];
  const started = performance.now();
  const total = Math.round((ratePerS * durationMs) / 1000);
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / ratePerS;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = performance.now();
    pending.push(
      nc.request(subject, spec.body(nextIndex()), options).then(
        (msg) => {
          latencies.push(performance.now() - sent);
          const error = errorOf(msg) ?? check?.(msg);
          if (error !== undefined) {
            errors += 1;
            firstError ??= error;
          }
        },
        (err: unknown) => {
          errors += 1;
          firstError ??= err instanceof Error ? err.message : String(err);
        },
      ),
    );
  }
  await Promise.all(pending);
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: total,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    rps: total / ((performance.now() - started) / 1000),
    p50_ms: quantile(sorted, 0.5),
    p99_ms: quantile(sorted, 0.99),
    max_ms: sorted[sorted.length - 1] ?? NaN,
  };
}

let counter = 0;

/** Request numbers unique across the whole run, so that generated emails and uids never repeat. */
export function nextIndex(): number {
  counter += 1;
  return counter;
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function forEachLimited<T>(
  items: Iterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  async function lane(): Promise<void> {
    for (let next = iterator.next(); next.done !== true; next = iterator.next()) {
      await work(next.value);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, () => lane()));
}
