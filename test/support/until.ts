// Polling for tests: wait for a condition instead of sleeping for a guessed time.

import { inspect } from "node:util";

export interface UntilOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Pause between probes (default 25 ms). */
  intervalMs?: number;
  /** What was being waited for, for the timeout error. */
  message?: string;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const STILL_PENDING = Symbol("still pending");

/** The probe's own result, or a marker when it has not settled within `ms`. */
async function settleWithin<T>(
  probe: () => T | Promise<T>,
  ms: number,
): Promise<T | typeof STILL_PENDING> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof STILL_PENDING>((resolve) => {
    timer = setTimeout(() => resolve(STILL_PENDING), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(probe), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `probe` until it returns a truthy value and returns that value. A probe that throws has
 * simply not succeeded yet; on timeout the error names `message` and carries the last throw as
 * its cause. A probe that hangs is abandoned at the deadline.
 */
export async function until<T>(
  probe: () => T | Promise<T>,
  options: UntilOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, intervalMs = 25, message = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const value = await settleWithin(probe, Math.max(deadline - Date.now(), 1));
      if (value !== STILL_PENDING && value) return value;
    } catch (err) {
      lastError = err;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const last = lastError instanceof Error ? lastError.message : inspect(lastError);
      const reason = lastError === undefined ? "" : `; last error: ${last}`;
      const summary = `timed out after ${timeoutMs} ms (${attempts} tries) waiting for ${message}`;
      throw new Error(summary + reason, { cause: lastError });
    }
    await pause(Math.min(intervalMs, remaining));
  }
}
