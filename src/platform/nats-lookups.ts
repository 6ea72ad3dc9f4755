// PlatformLookups over NATS request-reply (docs/PLATFORM.md §3): the subjects, the raw-bytes and
// JSON answers, and the cache. Any failure to get an answer (no responders, timeout, a closed
// connection) is `unavailable` here and nowhere else, so a request that needed the answer is a 503
// with retry_after_ms (docs/CONTRACT.md §10).
import type { NatsConnection } from "@nats-io/nats-core";
import { unavailable } from "../errors.js";
import type { Logger } from "../logger.js";
import { parseMember, type CommitteeMember, type PlatformLookups } from "./lookups.js";

export const PLATFORM_SUBJECTS = {
  projectName: "lfx.projects-api.get_name",
  committeeName: "lfx.committee-api.get_name",
  committeeMembers: "lfx.committee-api.list_members",
  emailToUsername: "lfx.auth-service.email_to_username",
} as const;

/** docs/CONTRACT.md §10 allows answers to be cached for at most 60 s. */
const FOUND_TTL_MS = 60_000;
/**
 * "No such project" is kept briefly only: a project created a moment ago must not stay unknown
 * for a minute, but a burst of requests naming a bad uid should not each ask again.
 */
const NOT_FOUND_TTL_MS = 5_000;
/** Bounds the memory of the cache; the oldest answers go first. */
const MAX_CACHED = 10_000;

interface Cached<T> {
  value: Promise<T>;
  expiresAt: number;
}

/** A small TTL cache of answers that also lets concurrent askers share one request. */
class AnswerCache<T> {
  private readonly entries = new Map<string, Cached<T>>();

  constructor(
    private readonly now: () => number,
    private readonly ttlOf: (value: T) => number,
  ) {}

  get(key: string, ask: () => Promise<T>): Promise<T> {
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.value;
    this.entries.delete(key);
    const value = ask();
    // Until it settles the entry only shares the request; a failure is never kept.
    const entry: Cached<T> = { value, expiresAt: Number.POSITIVE_INFINITY };
    this.entries.set(key, entry);
    if (this.entries.size > MAX_CACHED) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    value.then(
      (answer) => {
        entry.expiresAt = this.now() + this.ttlOf(answer);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }
}

export interface NatsLookupsOptions {
  timeoutMs: number;
  log: Logger;
  now?: () => number;
}

export function natsPlatformLookups(
  nc: NatsConnection,
  options: NatsLookupsOptions,
): PlatformLookups {
  const { timeoutMs, log } = options;
  const now = options.now ?? (() => Date.now());
  const existenceTtl = (exists: boolean) => (exists ? FOUND_TTL_MS : NOT_FOUND_TTL_MS);
  const projects = new AnswerCache<string | undefined>(now, (name) =>
    existenceTtl(name !== undefined),
  );
  const committees = new AnswerCache<boolean>(now, existenceTtl);
  const usernames = new AnswerCache<string | undefined>(now, (username) =>
    username === undefined ? NOT_FOUND_TTL_MS : FOUND_TTL_MS,
  );

  async function ask(subject: string, payload: string, what: string): Promise<string> {
    try {
      const reply = await nc.request(subject, payload, { timeout: timeoutMs });
      return reply.string();
    } catch (err) {
      throw unavailable(`the ${what} did not answer; retry`, err);
    }
  }

  function projectName(projectUid: string): Promise<string | undefined> {
    return projects.get(projectUid, async () => {
      const name = (await ask(PLATFORM_SUBJECTS.projectName, projectUid, "project service")).trim();
      return name === "" ? undefined : name;
    });
  }

  return {
    async projectExists(projectUid) {
      return (await projectName(projectUid)) !== undefined;
    },

    projectName,

    committeeExists(committeeUid) {
      return committees.get(committeeUid, async () => {
        const name = await ask(PLATFORM_SUBJECTS.committeeName, committeeUid, "committee service");
        return name.trim() !== "" && !isErrorAnswer(name);
      });
    },

    async committeeMembers(committeeUid) {
      const text = await ask(PLATFORM_SUBJECTS.committeeMembers, committeeUid, "committee service");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw unavailable("the committee service answered list_members with no JSON", err);
      }
      // An error object (or an empty answer) is a committee without members we can know of:
      // treated as unavailable, so that a sync never removes everyone on a bad answer.
      if (!Array.isArray(parsed)) {
        throw unavailable("the committee service did not list the members; retry");
      }
      const members: CommitteeMember[] = [];
      for (const item of parsed) {
        const member = parseMember(item);
        if (member !== undefined) members.push(member);
      }
      return members;
    },

    async usernameOf(email) {
      try {
        return await usernames.get(email.toLowerCase(), async () => {
          const answer = (
            await ask(PLATFORM_SUBJECTS.emailToUsername, email.toLowerCase(), "auth service")
          ).trim();
          return answer === "" || isErrorAnswer(answer) ? undefined : answer;
        });
      } catch (err) {
        log.warn({ err }, "no username from the auth service; the write goes on without it");
        return undefined;
      }
    },
  };
}

/** `{"error": ...}`: how the committee and auth services say "none" (docs/PLATFORM.md §3). */
function isErrorAnswer(text: string): boolean {
  if (!text.startsWith("{")) return false;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && "error" in parsed;
  } catch {
    return false;
  }
}
