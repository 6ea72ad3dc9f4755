// The platform messages of docs/CONTRACT.md §9, as two feeds over the entity buckets, one per way
// of sending: `platform-index` publishes the search-index messages and the events on core NATS;
// `fga-sync` publishes the access-control messages to JetStream, where they count as delivered once
// the platform's `fga-sync-events` stream acknowledges them. Two cursors, so that index messages
// and events never wait behind a stream that does not exist yet (the service never creates it: the
// platform owns it).
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../logger.js";
import { BUCKET_NAMES, type Buckets } from "../store/kv/buckets.js";
import type { EntityChange } from "./change.js";
import { Feed } from "./feed.js";
import {
  deleteAccess,
  eventMessage,
  indexMessage,
  meetingAccess,
  memberMessages,
  pastMeetingAccess,
  shownEntity,
  type ArtifactVisibility,
  type OutgoingMessage,
} from "./platform-messages.js";
import { ENTITY_BUCKETS, entitySources } from "./sources.js";

export interface PlatformFeedsOptions {
  nc: NatsConnection;
  /** For fga-sync publishes, with the deadline of a KV call. */
  js: JetStreamClient;
  buckets: Buckets;
  serviceToken: string;
  /** A stored meeting as a reply shows it, with its computed occurrences. */
  showMeeting?: (meeting: Record<string, unknown>, revision: number) => Promise<object>;
  log: Logger;
  instanceId: string;
  leaseMs: number;
}

export function createPlatformFeeds(options: PlatformFeedsOptions): Feed[] {
  const { buckets, log, instanceId, leaseMs } = options;
  const common = { control: buckets.outbox, log, instanceId, leaseMs };
  return [
    new Feed({
      ...common,
      name: "platform-index",
      sources: entitySources(buckets, ENTITY_BUCKETS),
      handle: indexAndEventSender(options),
    }),
    new Feed({
      ...common,
      name: "fga-sync",
      sources: entitySources(buckets, [
        "meetings",
        "meetingSettings",
        "registrants",
        "pastMeetings",
        "participants",
      ]),
      handle: fgaSyncSender(options),
      // A changed username's old value gets its member_remove (docs/PLATFORM.md §2).
      wantsPrevious: (bucket) =>
        bucket === BUCKET_NAMES.registrants || bucket === BUCKET_NAMES.participants,
    }),
  ];
}

const ARTIFACT_BUCKETS: ReadonlySet<string> = new Set([
  BUCKET_NAMES.recordings,
  BUCKET_NAMES.transcripts,
  BUCKET_NAMES.summaries,
]);

/**
 * Index message and event of a change, on core NATS. Nobody may be listening (`make run` without
 * the platform): core NATS cannot tell, so each is logged at debug.
 */
export function indexAndEventSender(
  options: Pick<PlatformFeedsOptions, "nc" | "buckets" | "serviceToken" | "log" | "showMeeting">,
  withEvents = true,
) {
  const { nc, buckets, log, showMeeting } = options;
  const serviceAuthorization = `Bearer ${options.serviceToken}`;
  return async (change: EntityChange): Promise<void> => {
    const artifactVisibility = ARTIFACT_BUCKETS.has(change.bucket)
      ? await artifactVisibilityOf(buckets, change.value["past_meeting_uid"])
      : undefined;
    const shown =
      change.bucket === BUCKET_NAMES.meetings && change.action !== "deleted" && showMeeting
        ? ((await showMeeting(change.value, change.revision)) as Record<string, unknown>)
        : shownEntity(change);
    const messages = [
      indexMessage(
        change,
        {
          serviceAuthorization,
          ...(artifactVisibility === undefined ? {} : { artifactVisibility }),
        },
        shown,
      ),
      ...(withEvents ? [eventMessage(change, shown)] : []),
    ];
    for (const message of messages) {
      nc.publish(message.subject, JSON.stringify(message.body));
      log.debug({ subject: message.subject, uid: change.uid }, "platform message sent");
    }
  };
}

async function artifactVisibilityOf(
  buckets: Buckets,
  pastMeetingUid: unknown,
): Promise<ArtifactVisibility | undefined> {
  if (typeof pastMeetingUid !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(pastMeetingUid)) {
    return undefined;
  }
  const entry = await buckets.pastMeetings.kv.get(pastMeetingUid);
  if (entry === null || entry.operation !== "PUT") return undefined;
  const visibility = entry.json<{ artifact_visibility?: ArtifactVisibility }>().artifact_visibility;
  return visibility;
}

/**
 * Access-control messages of a change, published to JetStream and acknowledged by the
 * platform's stream. Each carries a message id made of the change's bucket and revision, so the
 * stream drops a repeat of one it has (a retry after a timeout, or after a failover); a reindex
 * sends without (`dedupe` false): it must go through even right after the change was sent.
 */
export function fgaSyncSender(
  options: Pick<PlatformFeedsOptions, "js" | "buckets">,
  dedupe = true,
) {
  const { js, buckets } = options;
  const locks = new KeyedLock();
  const publish = async (change: EntityChange, messages: OutgoingMessage[]) => {
    for (const [i, message] of messages.entries()) {
      await js.publish(
        message.subject,
        JSON.stringify(message.body),
        dedupe ? { msgID: `${change.bucket}.${change.revision}.${i}` } : {},
      );
    }
  };
  return async (change: EntityChange): Promise<void> => {
    switch (change.bucket) {
      case BUCKET_NAMES.meetings:
      case BUCKET_NAMES.meetingSettings:
        // A meeting's access is made of two records, fed by two cursors: each message is built
        // from both as they are now, one meeting at a time, so a later message always holds a
        // later state and never an older one than the message before it.
        if (change.bucket === BUCKET_NAMES.meetingSettings && change.action !== "updated") {
          // Settings are created just before their meeting and deleted with it: the meeting's
          // own change sends its access (with the settings as they are then).
          return;
        }
        await locks.run(change.uid, async () => {
          if (change.bucket === BUCKET_NAMES.meetings && change.action === "deleted") {
            await publish(change, [deleteAccess("meeting", change.uid)]);
            return;
          }
          const [meeting, settings] = await Promise.all([
            currentValue(buckets.meetings.leaderKv, change.uid),
            currentValue(buckets.meetingSettings.leaderKv, change.uid),
          ]);
          // No longer there: its delete sends delete_access.
          if (meeting === undefined) return;
          const organizers = Array.isArray(settings?.["organizers"])
            ? (settings["organizers"] as string[])
            : [];
          await publish(change, [meetingAccess(change.uid, meeting, organizers)]);
        });
        return;
      case BUCKET_NAMES.pastMeetings:
        await publish(change, [
          change.action === "deleted"
            ? deleteAccess("past_meeting", change.uid)
            : pastMeetingAccess(change.uid, change.value),
        ]);
        return;
      default:
        await publish(change, memberMessages(change));
    }
  };
}

async function currentValue(
  kv: Buckets["meetings"]["leaderKv"],
  uid: string,
): Promise<Record<string, unknown> | undefined> {
  const entry = await kv.get(uid);
  if (entry === null || entry.operation !== "PUT") return undefined;
  return entry.json<Record<string, unknown>>();
}

/** Runs work for one key at a time, in arrival order; other keys run alongside. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run(key: string, work: () => Promise<void>): Promise<void> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const done = before.then(work, work);
    const tail = done.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      await done;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
