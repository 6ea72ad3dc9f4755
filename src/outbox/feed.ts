// A feed: the committed entity changes of some buckets, read back from the buckets' own streams
// (the outbox, docs/CONTRACT.md §9) and handed one at a time, per bucket in stream order, to a
// handler that sends what they cause (platform messages, events; invitations later). Generic: a
// feed is a name, its sources and a handler, so another sink runs as another feed with its own
// cursor.
//
// Shared by the instances: one instance at a time holds the feed's lease (a key in the outbox
// bucket, renewed at a revision) and sends; the others wait to take over when it lapses. The
// holder records the last stream sequence it has sent per bucket (a checkpoint key), and a new
// holder starts after it, so a change is sent once in steady state and repeated only after a
// failover (messages carry full state: a repeat is harmless). A holder sends only while its lease
// is valid by a margin, so an older state is never sent after the new holder's newer one. A
// handler that fails (no stream to take the message, NATS away) is retried with back-off, and the
// cursor waits: nothing after it in that bucket is sent first.
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerMessages,
  type JsMsg,
} from "@nats-io/jetstream";
import type { KvEntry } from "@nats-io/kv";
import type { Logger } from "../logger.js";
import type { Bucket } from "../store/kv/buckets.js";
import { readChange } from "../store/kv/change-headers.js";
import type { EntityChange } from "./change.js";

/** Where a feed reads the entities of one bucket from. */
export interface FeedSource {
  bucket: Bucket;
  /** Subject filter on the bucket's stream matching the entity keys only (no index keys, claims). */
  filter: string;
  /** The entity uid of a key the filter matched. */
  uidOf(key: string): string;
}

export interface FeedOptions {
  /** Names the lease and checkpoint keys: one cursor per feed and bucket. */
  name: string;
  sources: FeedSource[];
  /** Sends what a change causes; a throw is retried with back-off, the cursor waiting. */
  handle(change: EntityChange): Promise<void>;
  /** Changes of one bucket sent at once, of different entities (default 64). */
  concurrency?: number;
  /** Whether an update of this bucket needs the value it replaced (`EntityChange.previous`). */
  wantsPrevious?: (bucket: string) => boolean;
  /** Holds the leases and checkpoints. */
  control: Bucket;
  log: Logger;
  /** Tells this instance's lease from the others'. */
  instanceId: string;
  /** How long a lease lasts without renewal; a dead holder is replaced after about this long. */
  leaseMs: number;
  now?: () => number;
}

interface LeaseRecord {
  holder: string;
  /** Ms since the epoch, by the holder's clock. */
  expires_at: number;
}

interface CheckpointRecord {
  sequence: number;
}

const MAX_BACKOFF_MS = 5000;
/** Changes of one cursor sent at once (different entities; one entity's in order). */
const DEFAULT_CONCURRENCY = 64;
const CHECKPOINT_EVERY_MS = 200;
/** After this many failures in a row, a retry is logged at warn instead of debug. */
const QUIET_FAILURES = 20;

/** Physical keys of the outbox bucket: single tokens joined with "." (no user input). */
function leaseKey(feed: string): string {
  return `lease.${feed}`;
}

export function checkpointKey(feed: string, bucket: string): string {
  return `checkpoint.${feed}.${bucket}`;
}

export class Feed {
  private readonly now: () => number;
  private stopped = false;
  private leaseRevision = 0;
  /** This instance may send until then (ms since epoch, its own clock). */
  private validUntil = 0;
  /**
   * Another instance's lease, as last read, lapses then: not read again before (ms since epoch).
   * So each instance that does not hold it reads it about once per lease, not on every tick: with
   * many instances those reads were most of the server's work at rest (bench/instances.ts).
   */
  private othersLeaseUntil = 0;
  private cursors: Cursor[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(readonly options: FeedOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Makes sure every source has a checkpoint, at the stream's current end for a feed that never
   * ran (the past is what `npm run reindex` sends). Awaited before the service takes requests,
   * so every change it acknowledges comes after a checkpoint and is sent.
   */
  async prepare(): Promise<void> {
    for (const source of this.options.sources) {
      const key = checkpointKey(this.options.name, source.bucket.name);
      const existing = await this.options.control.leaderKv.get(key);
      if (existing !== null && existing.operation === "PUT") continue;
      const info = await source.bucket.kv.status();
      const record: CheckpointRecord = { sequence: info.streamInfo.state.last_seq };
      // Create-only: of instances starting together, the first one's position stands.
      await this.options.control.kv.create(key, JSON.stringify(record)).catch(() => undefined);
    }
  }

  /** Competes for the lease from now on, and sends while it holds it. */
  start(): void {
    const every = Math.max(50, Math.floor(this.options.leaseMs / 3));
    const tick = () => {
      if (this.stopped || this.ticking !== undefined) return;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
      });
    };
    this.timer = setInterval(tick, every);
    this.timer.unref();
    tick();
  }

  /** Stops sending, records where it got to, and gives up the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.ticking;
    const cursors = this.cursors;
    this.cursors = [];
    await Promise.all(cursors.map((cursor) => cursor.stop()));
    if (this.leaseRevision > 0 && this.holds()) {
      // Whoever reads it next takes over at once; the others read it when the lease they saw
      // would have lapsed, so a hand-over takes at most a lease (OUTBOX_LEASE_MS).
      const key = leaseKey(this.options.name);
      await this.options.control.kv.delete(key, { previousSeq: this.leaseRevision }).catch(() => {
        // A lease that is not released lapses.
      });
    }
    this.validUntil = 0;
  }

  /** Whether this instance may send now. */
  holds(): boolean {
    return !this.stopped && this.now() < this.validUntil;
  }

  private async tick(): Promise<void> {
    const startedAt = this.now();
    if (
      this.leaseRevision === 0 &&
      this.cursors.length === 0 &&
      startedAt < this.othersLeaseUntil
    ) {
      return;
    }
    try {
      const renewed = await this.renewOrTake(startedAt);
      if (renewed) {
        // Others take over at startedAt + leaseMs by their clocks; this one stops sending a third
        // earlier, a margin for clock skew and for a pause between this check and a send.
        this.validUntil = startedAt + Math.floor((this.options.leaseMs * 2) / 3);
      }
    } catch (err) {
      this.options.log.debug({ err, feed: this.options.name }, "feed lease not renewed");
    }
    if (this.stopped) return;
    if (this.holds() && this.cursors.length === 0) this.startCursors();
    if (!this.holds() && this.cursors.length > 0 && this.leaseRevision === 0) {
      await this.stopCursors();
    }
  }

  /** True when this instance holds the lease after the call. */
  private async renewOrTake(startedAt: number): Promise<boolean> {
    const { control, instanceId, leaseMs, name } = this.options;
    const key = leaseKey(name);
    const record = JSON.stringify({ holder: instanceId, expires_at: startedAt + leaseMs });
    if (this.leaseRevision > 0) {
      try {
        this.leaseRevision = await control.kv.update(key, record, this.leaseRevision);
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        // Taken over: this instance's lease had lapsed.
        this.options.log.info({ feed: name }, "feed lease lost");
        this.leaseRevision = 0;
        this.validUntil = 0;
        return false;
      }
    }
    const current = await control.leaderKv.get(key);
    if (current === null || current.operation !== "PUT") {
      this.leaseRevision = await create(control, key, record, current).catch(ifTaken(0));
    } else {
      const lease = current.json<LeaseRecord>();
      if (lease.expires_at > startedAt && lease.holder !== instanceId) {
        // Its holder's clock; never trusted for longer than a lease.
        this.othersLeaseUntil = Math.min(lease.expires_at, startedAt + leaseMs);
        return false;
      }
      this.leaseRevision = await control.kv.update(key, record, current.revision).catch(ifTaken(0));
    }
    if (this.leaseRevision > 0) this.options.log.info({ feed: name }, "feed lease taken");
    return this.leaseRevision > 0;
  }

  private startCursors(): void {
    this.cursors = this.options.sources.map((source) => new Cursor(this, source));
    for (const cursor of this.cursors) cursor.start();
  }

  private async stopCursors(): Promise<void> {
    const cursors = this.cursors;
    this.cursors = [];
    await Promise.all(cursors.map((cursor) => cursor.stop()));
  }

  get log(): Logger {
    return this.options.log;
  }
}

/** Reads one bucket's entity changes from its checkpoint on, and hands them to the handler. */
class Cursor {
  private stopped = false;
  /** Ends the back-off pauses at once on stop: a shutdown has 10 s in all (docs/CONTRACT.md §1). */
  private readonly stopping = abortController();
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** The last stream sequence handled, and the last one recorded. */
  private sent = 0;
  private recorded = 0;
  private readonly stream: string;
  private readonly subjectPrefix: string;
  private readonly key: string;

  constructor(
    private readonly feed: Feed,
    private readonly source: FeedSource,
  ) {
    this.stream = `KV_${source.bucket.name}`;
    this.subjectPrefix = `$KV.${source.bucket.name}.`;
    this.key = checkpointKey(feed.options.name, source.bucket.name);
  }

  start(): void {
    this.running = this.run();
    this.checkpointTimer = setInterval(() => void this.record(), CHECKPOINT_EVERY_MS);
    this.checkpointTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    await this.messages?.close().catch(() => undefined);
    await this.running;
    await this.record();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const window = new DeliveryWindow(this.feed.options.concurrency ?? DEFAULT_CONCURRENCY);
      try {
        if (this.sent === 0) this.sent = await this.readCheckpoint();
        this.recorded = Math.max(this.recorded, this.sent);
        window.start(this.sent);
        const consumer = await this.source.bucket.js.consumers.get(this.stream, {
          filter_subjects: this.source.filter,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.sent + 1,
        });
        const messages = await consumer.consume({ max_messages: 256 });
        this.messages = messages;
        if (this.stopped) break;
        failures = 0;
        for await (const msg of messages) {
          if (this.stopped) break;
          if (msg.seq <= window.dispatched) continue;
          await window.room(() => this.stopped);
          if (this.stopped) break;
          const key = msg.subject.slice(this.subjectPrefix.length);
          window.dispatch(
            msg.seq,
            this.uidOf(key),
            () => this.deliver(msg),
            (sent) => {
              this.sent = sent;
            },
          );
        }
      } catch (err) {
        if (this.stopped) break;
        failures += 1;
        this.feed.log.warn(
          { err, feed: this.feed.options.name, bucket: this.source.bucket.name },
          "feed cursor failed; restarting it",
        );
        await this.pause(backoff(failures));
      } finally {
        await this.messages?.close().catch(() => undefined);
        this.messages = undefined;
        // A restarted consumer begins after what was sent: what is still being sent finishes
        // first (or gives up, when stopping), so it is not sent twice by this instance.
        await window.settled();
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  /** The uid a key names; an unreadable key is its own "uid" (its messages keep their order). */
  private uidOf(key: string): string {
    try {
      return this.source.uidOf(key);
    } catch {
      return key;
    }
  }

  /**
   * Hands the change to the handler until it takes it, while this instance holds the lease.
   * False when the cursor stopped first: the change was not sent.
   */
  private async deliver(msg: JsMsg): Promise<boolean> {
    for (let failures = 0; !this.stopped;) {
      if (!this.feed.holds()) {
        // A lapsed lease: another instance may be sending already.
        await this.pause(50);
        continue;
      }
      try {
        const change = await this.changeOf(msg);
        if (!this.feed.holds()) continue;
        await this.feed.options.handle(change);
        return true;
      } catch (err) {
        failures += 1;
        const log = { err, feed: this.feed.options.name, bucket: this.source.bucket.name };
        // Messages nobody takes yet (a stream not created, NATS away) are expected locally.
        if (failures === QUIET_FAILURES) this.feed.log.warn(log, "feed message still not sent");
        else this.feed.log.debug(log, "feed message not sent; retrying");
        await this.pause(backoff(failures));
      }
    }
    return false;
  }

  private async changeOf(msg: JsMsg): Promise<EntityChange> {
    const key = msg.subject.slice(this.subjectPrefix.length);
    const operation = msg.headers?.get("KV-Operation");
    const stamped = readChange(msg.headers);
    const deleted = operation === "DEL" || operation === "PURGE";
    const action = deleted ? "deleted" : (stamped.change ?? "updated");
    const wantsPrevious =
      deleted ||
      (action === "updated" && this.feed.options.wantsPrevious?.(this.source.bucket.name) === true);
    const previous =
      wantsPrevious && stamped.previousRevision !== undefined
        ? await this.valueAt(key, stamped.previousRevision)
        : undefined;
    const value = deleted ? (previous ?? {}) : (msg.json<Record<string, unknown>>() ?? {});
    return {
      bucket: this.source.bucket.name,
      uid: this.source.uidOf(key),
      revision: msg.seq,
      action,
      value,
      ...(!deleted && previous !== undefined ? { previous } : {}),
      origin: stamped.origin,
      at: new Date(Math.floor(msg.info.timestampNanos / 1e6)),
    };
  }

  /** A key's value at an earlier revision, from the stream leader; undefined when gone. */
  private async valueAt(key: string, revision: number) {
    const entry: KvEntry | null = await this.source.bucket.leaderKv.get(key, { revision });
    if (entry === null || entry.operation !== "PUT" || entry.key !== key) return undefined;
    return entry.json<Record<string, unknown>>();
  }

  private async readCheckpoint(): Promise<number> {
    const entry = await this.feed.options.control.leaderKv.get(this.key);
    if (entry === null || entry.operation !== "PUT") return 0;
    return entry.json<CheckpointRecord>().sequence;
  }

  private async record(): Promise<void> {
    if (this.sent <= this.recorded) return;
    const sequence = this.sent;
    try {
      await this.feed.options.control.kv.put(this.key, JSON.stringify({ sequence }));
      this.recorded = Math.max(this.recorded, sequence);
    } catch (err) {
      // The next tick tries again; a checkpoint behind only means repeats after a failover.
      this.feed.log.debug({ err, feed: this.feed.options.name }, "feed checkpoint not recorded");
    }
  }
}

/**
 * The changes of one cursor being sent at once: up to `limit`, the changes of one uid one after
 * another in stream order, different uids side by side (a round trip per message would cap a
 * bucket at about a thousand changes a second). What counts as sent is the sequence below the
 * oldest change still being sent, so a checkpoint never passes a change that was not sent.
 */
class DeliveryWindow {
  /** The last sequence handed out. */
  dispatched = 0;
  private readonly inFlight = new Map<number, Promise<unknown>>();
  private readonly lastOfUid = new Map<string, Promise<unknown>>();

  constructor(private readonly limit: number) {}

  start(sent: number): void {
    this.dispatched = sent;
  }

  /** Waits until another change may start, or the cursor stops. */
  async room(stopped: () => boolean): Promise<void> {
    while (this.inFlight.size >= this.limit && !stopped()) {
      await Promise.race(this.inFlight.values());
    }
  }

  dispatch(
    seq: number,
    uid: string,
    deliver: () => Promise<boolean>,
    onSent: (sent: number) => void,
  ): void {
    const before = this.lastOfUid.get(uid) ?? Promise.resolve(true);
    const delivery = before.then((previousSent) => (previousSent === true ? deliver() : false));
    this.inFlight.set(seq, delivery);
    this.lastOfUid.set(uid, delivery);
    this.dispatched = seq;
    void delivery.then((sent) => {
      if (this.lastOfUid.get(uid) === delivery) this.lastOfUid.delete(uid);
      // Not sent (stopping): it stays in flight, and the watermark stays below it.
      if (sent !== true) return;
      this.inFlight.delete(seq);
      onSent(this.inFlight.size === 0 ? this.dispatched : Math.min(...this.inFlight.keys()) - 1);
    });
  }

  /** Resolves when every change handed out has been sent or given up. */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight.values());
  }
}

/** One pause per change being sent may listen at once (DeliveryWindow), more than Node's 10. */
function abortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

function backoff(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(failures, 10));
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** A lost race for the lease is "not taken"; anything else is a failure of the tick. */
function ifTaken(value: number) {
  return (err: unknown): number => {
    if (isWrongLastSequence(err)) return value;
    throw err;
  };
}

/** Creates the lease key, also over a delete marker (a released lease). */
async function create(
  control: Bucket,
  key: string,
  record: string,
  current: KvEntry | null,
): Promise<number> {
  if (current === null) return control.kv.create(key, record);
  return control.kv.update(key, record, current.revision);
}
