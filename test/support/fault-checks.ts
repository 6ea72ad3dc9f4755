// What the fault tests (test/faults/) check and report: every page of a list, retrying a read as a
// client would, the consistency check after the faults, and the figures a run measured: one JSON
// line on stderr each, appended with the causes of 5xx replies to $FAULTS_REPORT when set. That
// is where the numbers in docs/RELIABILITY.md come from.
import { RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { appendFileSync } from "node:fs";
import { BUCKET_NAMES } from "../../src/store/kv/buckets.js";
import type { Cluster } from "./cluster.js";
import { listAllPages, type Reply } from "./request.js";
import { runConsistencyCheck } from "./service-process.js";
import { until } from "./until.js";

export interface Listed {
  uid: string;
  revision: number;
}

/** Every item of `lfx.meetings.list` with `filters`, page by page. */
export function listAll(
  nc: NatsConnection,
  filters: Record<string, unknown>,
  subject = "lfx.meetings.list",
): Promise<Listed[]> {
  return listAllPages<Listed>(nc, subject, filters, { limit: 1000, timeoutMs: 10_000 });
}

/** Why a read was sent again: a 503 reply, no reply in the caller's time, or no responders. */
export type RetryReason = "503" | "timeout" | "no-responders";

/**
 * Sends a read (a get or a list page) again as lfx-client does (client/src/client.ts): after a 503
 * (docs/CONTRACT.md: safe to retry) once its `retry_after_ms` has passed (500 ms without one),
 * after no responders in 250 ms, and at once after a caller timeout (a read is safe to repeat).
 * Past `budgetMs` from the first send, the last reply is returned or the last error thrown.
 * `onRetry` is told the reason of each retry.
 */
export async function retryRead<T>(
  send: () => Promise<Reply<T>>,
  budgetMs: number,
  onRetry: (reason: RetryReason) => void = () => undefined,
): Promise<Reply<T>> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    let reason: RetryReason;
    let waitMs: number;
    try {
      const reply = await send();
      if (reply.status !== 503 || Date.now() >= deadline) return reply;
      const hint = (reply.body as { error?: { retry_after_ms?: unknown } } | undefined)?.error
        ?.retry_after_ms;
      [reason, waitMs] = ["503", typeof hint === "number" ? hint : 500];
    } catch (err) {
      const timedOut =
        err instanceof TimeoutError ||
        (err instanceof RequestError && err.cause instanceof TimeoutError);
      const noResponders = err instanceof RequestError && err.isNoResponders();
      if ((!timedOut && !noResponders) || Date.now() >= deadline) throw err;
      [reason, waitMs] = timedOut ? ["timeout", 0] : ["no-responders", 250];
    }
    onRetry(reason);
    const left = deadline - Date.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(waitMs, left))));
  }
}

export function report(what: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ fault: what, ...figures });
  // The causes of 5xx replies go to the report file only: they are long.
  const { causes: _causes, ...short } = figures;
  process.stderr.write(`${JSON.stringify({ fault: what, ...short })}\n`);
  const file = process.env["FAULTS_REPORT"];
  if (file !== undefined && file !== "") appendFileSync(file, `${line}\n`);
}

/** The causes of a process's 5xx replies since `since` (ms), counted by "endpoint: error". */
export function failureCauses(
  lines: readonly Record<string, unknown>[],
  since = 0,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    if (line["msg"] !== "request failed" || Date.parse(String(line["time"])) < since) continue;
    const err = line["err"] as { type?: string; message?: string; stack?: string } | undefined;
    const where = (err?.stack ?? "")
      .split("\n")
      .slice(1)
      .find((frame) => frame.includes("/dist/"))
      ?.trim();
    const message = (err?.message ?? "").replace(/'\$KV\.[^']*'/g, "'$KV...'").slice(0, 120);
    const label = `${String(line["endpoint"])}: ${err?.type ?? "?"} ${message} ${where ?? ""}`;
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

/**
 * check-consistency against the cluster, again while it exits 2 (it could not run: a listing's
 * consumer not created in time while the cluster settles after faults); 0 or 1 is its verdict.
 */
export async function checkUntilItRuns(urls: string, ...args: string[]) {
  return until(
    async () => {
      const check = await runConsistencyCheck(urls, ...args);
      return check.code === 2 ? undefined : check;
    },
    { timeoutMs: 90_000, intervalMs: 1000, message: "check-consistency to run" },
  );
}

/**
 * Runs check-consistency on the whole cluster once every bucket's stream has a leader (after
 * restarts, streams no test waited for may still be electing theirs); when it finds something,
 * `--repair` and a check again. Returns the first run's findings and the last run's exit code
 * (0: clean, at most after the repair).
 */
export async function consistentAfterRepair(
  cluster: Cluster,
): Promise<{ findings: string[]; stderr: string; code: number }> {
  for (const name of Object.values(BUCKET_NAMES)) await cluster.leaderOf(`KV_${name}`, 60_000);
  const urls = cluster.urls();
  const first = await checkUntilItRuns(urls, "--grace-seconds", "0");
  if (first.code === 0) return { findings: first.findings, stderr: first.stderr, code: 0 };
  const repair = await checkUntilItRuns(urls, "--repair", "--grace-seconds", "0");
  if (repair.code !== 0)
    return { findings: first.findings, stderr: repair.stderr, code: repair.code };
  const after = await checkUntilItRuns(urls, "--grace-seconds", "0");
  return { findings: first.findings, stderr: first.stderr, code: after.code };
}
