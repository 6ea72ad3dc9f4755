// Shared by the fault tests: reading every page of a list, and reporting the figures a run
// measured: one JSON line on stderr each, appended with the causes of 5xx replies to
// $FAULTS_REPORT when set. That is where the numbers in docs/RELIABILITY.md come from.
import type { NatsConnection } from "@nats-io/transport-node";
import { appendFileSync } from "node:fs";
import { listAllPages } from "../support/request.js";

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
