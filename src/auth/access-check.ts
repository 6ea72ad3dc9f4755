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
  /**
   * Checks asked and not yet answered. When a hot object's answer expires, every request for it
   * that arrives before the platform answers waits for that one ask instead of sending its own:
   * at 64 requests in flight, one message every CACHE_MS rather than 64.
   */
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly ask: AskPlatform,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether `principal` holds each relation, in order. */
  async check(principal: string, relations: readonly Relation[]): Promise<boolean[]> {
    const lines = relations.map((r) => checkLine(r, principal));
    const now = this.now();
    const verdicts = new Map<string, Promise<boolean>>();
    const missing: string[] = [];
    for (const line of new Set(lines)) {
      const cached = this.cache.get(line);
      const inFlight = this.asking.get(line);
      if (cached !== undefined && cached.expires > now) {
        verdicts.set(line, Promise.resolve(cached.allowed));
      } else if (inFlight !== undefined) verdicts.set(line, inFlight);
      else missing.push(line);
    }
    if (missing.length > 0) {
      const answered = this.askFor(missing);
      for (const line of missing) {
        const verdict = answered.then((answers) => answers.get(line) === true);
        this.asking.set(line, verdict);
        verdicts.set(line, verdict);
      }
      const done = () => {
        for (const line of missing) this.asking.delete(line);
      };
      answered.then(done, done);
    }
    return Promise.all(lines.map((line) => verdicts.get(line) ?? Promise.resolve(false)));
  }

  /** One message for `lines`; the answers are cached, except a check left out (a denial). */
  private async askFor(lines: readonly string[]): Promise<Map<string, boolean>> {
    const answered = parseAnswer(await this.ask(lines.join("\n")));
    const expires = this.now() + CACHE_MS;
    for (const line of lines) {
      const allowed = answered.get(line);
      if (allowed !== undefined) this.remember(line, allowed, expires);
    }
    return answered;
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
