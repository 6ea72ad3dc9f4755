// Asks the platform whether a caller holds relations (`lfx.access_check.request`, docs/PLATFORM.md
// §3): every check of one request goes in one message (a list page's items together), and answers
// are cached for at most CACHE_MS (docs/CONTRACT.md §8), so repeated reads of one object cost no
// round trip. No answer is a 503: the platform may be down, the caller may retry.
import type { NatsConnection } from "@nats-io/nats-core";
import { unavailable } from "../errors.js";
import { checkLine, type Relation } from "./access.js";

export const ACCESS_CHECK_SUBJECT = "lfx.access_check.request";

/** docs/CONTRACT.md §8: results may be cached for at most 10 s. */
export const CACHE_MS = 10_000;

/** Bounds the cache's memory; the oldest answers go first. */
const MAX_CACHED = 50_000;

/** Sends the text of a batch of checks and resolves with the text of the answer. */
export type AskPlatform = (text: string) => Promise<string>;

export class AccessChecker {
  private readonly cache = new Map<string, { allowed: boolean; expires: number }>();

  constructor(
    private readonly ask: AskPlatform,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether `principal` holds each relation, in order. */
  async check(principal: string, relations: readonly Relation[]): Promise<boolean[]> {
    const lines = relations.map((r) => checkLine(r, principal));
    const now = this.now();
    const answers = new Map<string, boolean>();
    const missing = new Set<string>();
    for (const line of lines) {
      const cached = this.cache.get(line);
      if (cached !== undefined && cached.expires > now) answers.set(line, cached.allowed);
      else missing.add(line);
    }
    if (missing.size > 0) {
      const asked = [...missing];
      const answered = parseAnswer(await this.ask(asked.join("\n")));
      const expires = this.now() + CACHE_MS;
      for (const line of asked) {
        // A check the platform left out of its answer is a denial, and is not cached.
        const allowed = answered.get(line);
        answers.set(line, allowed === true);
        if (allowed !== undefined) this.remember(line, allowed, expires);
      }
    }
    return lines.map((line) => answers.get(line) === true);
  }

  private remember(line: string, allowed: boolean, expires: number): void {
    this.cache.delete(line);
    this.cache.set(line, { allowed, expires });
    if (this.cache.size > MAX_CACHED) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
  }
}

/** `<check>\t<true|false>` per line, in any order; anything else on a line is ignored. */
export function parseAnswer(text: string): Map<string, boolean> {
  const answers = new Map<string, boolean>();
  for (const line of text.split("\n")) {
    const tab = line.lastIndexOf("\t");
    if (tab < 0) continue;
    const verdict = line.slice(tab + 1).trim();
    if (verdict === "true" || verdict === "false") {
      answers.set(line.slice(0, tab).trim(), verdict === "true");
    }
  }
  return answers;
}

/**
 * The platform over NATS request-reply. Whatever keeps an answer from coming (no responder, a
 * timeout, a connection that is closing) is `unavailable`: nothing was decided, a retry may pass.
 */
export function natsAskPlatform(nc: NatsConnection, timeoutMs: number): AskPlatform {
  return async (text) => {
    try {
      const reply = await nc.request(ACCESS_CHECK_SUBJECT, text, { timeout: timeoutMs });
      return reply.string();
    } catch (err) {
      throw unavailable("the access check service did not answer; retry", err);
    }
  };
}
