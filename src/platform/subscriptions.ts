// The platform events the service follows (docs/PLATFORM.md §5): committee member changes and
// project settings changes. Subscribed in the service's queue group, so that with several instances
// each event is handled by one of them; the handling (handlers/committee-members.ts,
// handlers/project-settings.ts) is idempotent, so an event delivered twice changes nothing more.
// Events of one subscription are handled one after another in arrival order. A failure is retried a
// few times (the writes are idempotent) and then logged; it never ends the process.
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { MemberChange } from "../handlers/committee-members.js";
import type { ProjectSettingsChange } from "../handlers/project-settings.js";
import type { Logger } from "../logger.js";
import { parseMember } from "./lookups.js";

export const EVENT_SUBJECTS = {
  memberCreated: "lfx.committee-api.committee_member.created",
  memberUpdated: "lfx.committee-api.committee_member.updated",
  memberDeleted: "lfx.committee-api.committee_member.deleted",
  projectSettingsUpdated: "lfx.projects-api.project_settings.updated",
} as const;

const RETRY_DELAYS_MS = [500, 2000, 5000];

export interface PlatformEventHandlers {
  memberChanged(change: MemberChange, log: Logger): Promise<void>;
  projectSettingsUpdated(change: ProjectSettingsChange, log: Logger): Promise<void>;
}

export interface PlatformSubscriptions {
  /** Stops taking events and waits for the one being handled. */
  stop(): Promise<void>;
}

type Parsed<T> = T | { invalid: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `{event_type, subject, timestamp, version, data}` of a committee member event. */
export function parseMemberEvent(subject: string, body: unknown): Parsed<MemberChange> {
  if (!isObject(body) || !isObject(body["data"])) return { invalid: "no data object" };
  const data = body["data"];
  if (subject === EVENT_SUBJECTS.memberUpdated) {
    const member = parseMember(data["member"]);
    if (member === undefined) return { invalid: "data.member without email" };
    const oldMember = parseMember(data["old_member"]);
    const committeeUid = member.committee_uid ?? oldMember?.committee_uid;
    if (typeof committeeUid !== "string") return { invalid: "no committee_uid" };
    return { kind: "updated", committeeUid, oldMember, member };
  }
  const member = parseMember(data);
  if (member === undefined) return { invalid: "data without email" };
  if (typeof member.committee_uid !== "string") return { invalid: "no committee_uid" };
  const kind = subject === EVENT_SUBJECTS.memberCreated ? "created" : "deleted";
  return { kind, committeeUid: member.committee_uid, member };
}

export function parseProjectSettingsEvent(body: unknown): Parsed<ProjectSettingsChange> {
  if (!isObject(body) || typeof body["project_uid"] !== "string") {
    return { invalid: "no project_uid" };
  }
  return body as unknown as ProjectSettingsChange;
}

export function subscribePlatformEvents(
  nc: NatsConnection,
  queue: string,
  handlers: PlatformEventHandlers,
  log: Logger,
): PlatformSubscriptions {
  let stopped = false;
  const subscriptions: Subscription[] = [];
  const queues: Promise<void>[] = [];

  function follow<T>(
    subjects: readonly string[],
    parse: (subject: string, body: unknown) => Parsed<T>,
    handle: (change: T, log: Logger) => Promise<void>,
  ) {
    let tail = Promise.resolve();
    const index = queues.push(tail) - 1;
    for (const subject of subjects) {
      subscriptions.push(
        nc.subscribe(subject, {
          queue,
          callback: (err, msg) => {
            if (err !== null) {
              log.error({ err, subject }, "platform event subscription failed");
              return;
            }
            tail = tail
              .then(() => handleOne(msg, parse, handle))
              .catch((failure: unknown) =>
                log.error({ err: failure, subject }, "platform event handling failed"),
              );
            queues[index] = tail;
          },
        }),
      );
    }
  }

  async function handleOne<T>(
    msg: Msg,
    parse: (subject: string, body: unknown) => Parsed<T>,
    handle: (change: T, log: Logger) => Promise<void>,
  ): Promise<void> {
    const eventLog = log.child({ event: msg.subject });
    let body: unknown;
    try {
      body = msg.json();
    } catch (err) {
      eventLog.warn({ err }, "platform event is not JSON; ignored");
      return;
    }
    const change = parse(msg.subject, body);
    if (isObject(change) && "invalid" in change) {
      eventLog.warn({ reason: change.invalid }, "platform event not understood; ignored");
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await handle(change, eventLog);
        // One line per event, like "request completed" for requests: operators (and tests) see
        // that an event was taken in and by which instance.
        eventLog.info("platform event handled");
        return;
      } catch (err) {
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined || stopped) {
          eventLog.error({ err, attempts: attempt + 1 }, "platform event not handled");
          return;
        }
        eventLog.warn({ err, retry_in_ms: delay }, "platform event not handled yet; retrying");
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  follow(
    [EVENT_SUBJECTS.memberCreated, EVENT_SUBJECTS.memberUpdated, EVENT_SUBJECTS.memberDeleted],
    parseMemberEvent,
    (change, eventLog) => handlers.memberChanged(change, eventLog),
  );
  follow(
    [EVENT_SUBJECTS.projectSettingsUpdated],
    (_subject, body) => parseProjectSettingsEvent(body),
    (change, eventLog) => handlers.projectSettingsUpdated(change, eventLog),
  );

  return {
    async stop() {
      stopped = true;
      for (const subscription of subscriptions) subscription.unsubscribe();
      await Promise.all(queues);
    },
  };
}
