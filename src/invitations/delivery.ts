// How invitation emails leave one instance: at most `concurrency` messages in delivery at once and
// at most `ratePerSecond` attempts started per second, whatever the number of meetings and
// registrants (10,000 registrants of a changed meeting queue here instead of flooding the mail
// server), and each message retried with exponential back-off until it is accepted or its
// attempts run out. Requests never wait on this: only the invitation consumer does.
import { setTimeout as sleep } from "node:timers/promises";
import pLimit, { type LimitFunction } from "p-limit";
import type { EmailConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Mailer } from "./mailer.js";
import type { InvitationMessage } from "./message.js";

export type DeliveryPolicy = Pick<
  EmailConfig,
  "ratePerSecond" | "concurrency" | "maxAttempts" | "retryBaseMs" | "retryMaxMs"
>;

export interface DeliveryHooks {
  /** Before every attempt and back-off: how long this delivery may still take (lease, records). */
  onProgress?: (busyForMs: number) => Promise<void>;
}

/** Time one SMTP attempt may take (mailer.ts timeouts, x3): how long a sender's lease lasts. */
export const ATTEMPT_BUDGET_MS = 45_000;

export class DeliveryQueue {
  private readonly slots: LimitFunction;
  private readonly spacingMs: number;
  /** Attempts take their turn one after another through this chain. */
  private turn: Promise<void> = Promise.resolve();
  private lastStartAt = -Infinity;

  constructor(
    private readonly mailer: Mailer,
    private readonly policy: DeliveryPolicy,
    private readonly log: Logger,
    /** ATTEMPT_BUDGET_MS; shorter in tests that take over from a frozen sender. */
    readonly attemptBudgetMs = ATTEMPT_BUDGET_MS,
  ) {
    this.slots = pLimit(policy.concurrency);
    this.spacingMs = 1000 / policy.ratePerSecond;
  }

  /** Runs `job` in a delivery slot: claims and bookkeeping happen inside it, next to the send. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return this.slots(job);
  }

  /** Messages waiting for a slot and in delivery. */
  get backlog(): number {
    return this.slots.pendingCount + this.slots.activeCount;
  }

  /**
   * Sends `message` (call from inside `run`), retrying failures with back-off. True when it was
   * accepted; false when every attempt failed.
   */
  async deliver(message: InvitationMessage, hooks: DeliveryHooks = {}): Promise<boolean> {
    const { maxAttempts, retryBaseMs, retryMaxMs } = this.policy;
    for (let attempt = 1; ; attempt += 1) {
      await hooks.onProgress?.(this.attemptBudgetMs);
      await this.startSlot();
      try {
        await this.mailer.send(message);
        return true;
      } catch (err) {
        if (attempt >= maxAttempts) {
          this.log.error(
            { ...failureOf(err), attempts: attempt },
            "invitation email not delivered; giving up",
          );
          return false;
        }
        const delayMs = Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1));
        this.log.warn(
          { ...failureOf(err), attempt, retry_in_ms: delayMs },
          "invitation email failed; retrying",
        );
        await hooks.onProgress?.(delayMs + this.attemptBudgetMs);
        await sleep(delayMs);
      }
    }
  }

  /**
   * Waits for the next start the rate allows: each attempt at least `spacingMs` after the one
   * before, measured when it really starts, so timers that fire late on a busy event loop do not
   * let a burst through.
   */
  private startSlot(): Promise<void> {
    const turn = this.turn.then(async () => {
      for (;;) {
        const waitMs = this.lastStartAt + this.spacingMs - performance.now();
        if (waitMs <= 0) break;
        await sleep(Math.ceil(waitMs));
      }
      this.lastStartAt = performance.now();
    });
    this.turn = turn;
    return turn;
  }
}

/**
 * What a failed attempt logs: nodemailer's error code and the SMTP reply code, not its message,
 * which may quote the recipient's address (logs hold no emails, docs/SECURITY.md).
 */
function failureOf(err: unknown): { code?: string; response_code?: number } {
  if (typeof err !== "object" || err === null) return {};
  const { code, responseCode } = err as { code?: unknown; responseCode?: unknown };
  return {
    ...(typeof code === "string" ? { code } : {}),
    ...(typeof responseCode === "number" ? { response_code: responseCode } : {}),
  };
}
