// An in-process, sorted copy of the key set of one bucket, fed by a headers-only ordered consumer.
// Why: on nats-server 2.9 a wildcard key listing walks the whole bucket (FACTS.md), so a list whose
// cost must follow its result size cannot ask the server. This copy answers a prefix range in
// O(log n + page) and is brought up to date with the stream before every list (`sync`), so a list
// sees every write acknowledged before it was asked, on any instance. Values are never held.
import {
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type PushConsumer,
} from "@nats-io/jetstream";
import type { Logger } from "../logger.js";
import { unavailable } from "../errors.js";
import { encodeKeyPrefix } from "./keys.js";
import { PackedKeys } from "./packed-keys.js";

/**
 * Lists range over index keys only (`index/...`); entity keys (`registrant/{uid}`) and claims
 * (`unique/...`) are read by key and never listed, so they are not kept: half the keys of the
 * registrants bucket, and memory is what limits this copy (bench/: 100,000 registrants).
 */
const LISTED_PREFIX = encodeKeyPrefix(["index"]);

const KV_OPERATION_HEADER = "KV-Operation";
/** A feed that delivers nothing for this long while the copy is behind is replaced. */
const FEED_STALL_MS = 1000;
/** How long a replacement feed may take to start (see restart()). */
const FEED_REPLACE_TIMEOUT_MS = 5000;

interface Waiter {
  sequence: number;
  resolve: () => void;
}

export interface KeyIndexOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  bucket: string;
  log: Logger;
  /** How long a list may wait for the copy to catch up before answering `unavailable`. */
  syncTimeoutMs: number;
}

export class KeyIndex {
  /** Index keys (several tokens, under LISTED_PREFIX; CONTRACT §6). */
  private readonly tokenKeys = new PackedKeys();
  /** Single-token keys: the uids of a direct-key bucket. */
  private readonly directKeys = new PackedKeys();
  private readonly stream: string;
  private readonly subjectPrefix: string;
  private lastSequence = 0;
  private waiters: Waiter[] = [];
  private consumer: PushConsumer | undefined;
  private messages: ConsumerMessages | undefined;
  private stopped = false;
  /** Feeds started so far; a message of an older feed is ignored. */
  private generation = 0;
  /** A feed is being started (see restart()). */
  private starting = false;
  /** When the feed last delivered a message (ms since epoch). */
  private lastDeliveryAt = 0;
  /** Stream-sequence lookups: one in flight, and one queued for the callers that came after it. */
  private inFlightHead: Promise<number> | undefined;
  private queuedHead: Promise<number> | undefined;

  private constructor(private readonly options: KeyIndexOptions) {
    this.stream = `KV_${options.bucket}`;
    this.subjectPrefix = `$KV.${options.bucket}.`;
  }

  /** Starts the feed and resolves once every key present at start is in the copy. */
  static async start(options: KeyIndexOptions, loadTimeoutMs: number): Promise<KeyIndex> {
    const index = new KeyIndex(options);
    await index.consume();
    try {
      await index.sync(loadTimeoutMs);
    } catch (err) {
      await index.stop();
      throw err;
    }
    return index;
  }

  get size(): number {
    return this.tokenKeys.size + this.directKeys.size;
  }

  /** Multi-token keys starting with `prefix` (ending in "."), after `after`, in key order. */
  range(prefix: string, after: string | undefined, limit: number): string[] {
    if (!prefix.startsWith(LISTED_PREFIX)) throw new RangeError(`not an index prefix: ${prefix}`);
    const start = after !== undefined && after > prefix ? after : prefix;
    return take(this.tokenKeys, start, after, limit, (key) => key.startsWith(prefix));
  }

  /** Whether the feed has delivered the key and no delete of it (only kept keys: see apply). */
  has(key: string): boolean {
    return (key.includes(".") ? this.tokenKeys : this.directKeys).has(key);
  }

  /** Single-token keys (uids) after `after`, in key order. */
  directRange(after: string | undefined, limit: number): string[] {
    return take(this.directKeys, after, after, limit, () => true);
  }

  /** Waits until the copy holds every write the stream had acknowledged when this was called. */
  async sync(timeoutMs = this.options.syncTimeoutMs): Promise<void> {
    const head = await this.streamHead();
    if (this.lastSequence >= head) return;
    const caughtUp = new Promise<true>((resolve) => {
      this.waiters.push({ sequence: head, resolve: () => resolve(true) });
    });
    const deadline = Date.now() + timeoutMs;
    const stallMs = Math.max(100, Math.min(FEED_STALL_MS, timeoutMs / 2));
    for (let remaining = timeoutMs; remaining > 0; remaining = deadline - Date.now()) {
      if (await settlesWithin(caughtUp, Math.min(stallMs, remaining))) return;
      // Still delivering: slow, not stalled.
      if (Date.now() - this.lastDeliveryAt < stallMs) continue;
      const unseen = await this.holdsUnseen(stallMs);
      if (unseen === false) {
        // Nothing left after what the copy has seen: the newest messages are gone (a purged
        // stream), so their sequences will never arrive.
        this.advance(head);
        return;
      }
      this.replaceFeed(
        unseen === undefined
          ? `nothing delivered for ${stallMs} ms, and the stream could not be asked`
          : `nothing delivered for ${stallMs} ms with messages left to deliver`,
      );
    }
    throw unavailable(`key index of ${this.options.bucket} is catching up`);
  }

  /**
   * Whether the stream holds a message after the last one the copy has seen, as its leader
   * knows it (`STREAM.MSG.GET`: a feed on a replica that is behind would say "nothing left");
   * undefined when the stream cannot tell within `timeoutMs`.
   */
  private async holdsUnseen(timeoutMs: number): Promise<boolean | undefined> {
    // STREAM.MSG.GET takes `next_by_subj` with `seq` (the first message at or after it, on 2.9
    // too), which the client's request type leaves out.
    const firstUnseen = { seq: this.lastSequence + 1, next_by_subj: `${this.subjectPrefix}>` };
    const lookup = this.options.jsm.streams.getMessage(this.stream, firstUnseen).then(
      (msg) => msg !== null,
      () => undefined,
    );
    return valueWithin(lookup, timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
  }

  /**
   * Starts a feed from the last sequence seen, replacing the current one. Messages of an older
   * feed are ignored from then on (`generation`), so two feeds never interleave.
   */
  private async consume(): Promise<void> {
    const generation = ++this.generation;
    const previous = { consumer: this.consumer, messages: this.messages };
    this.messages = undefined;
    void previous.messages?.close().catch(ignore);
    void previous.consumer?.delete().catch(ignore);
    const fromStart = this.lastSequence === 0;
    const consumer = await this.options.js.consumers.getPushConsumer(this.stream, {
      filter_subjects: `${this.subjectPrefix}>`,
      headers_only: true,
      deliver_policy: fromStart ? DeliverPolicy.LastPerSubject : DeliverPolicy.StartSequence,
      ...(fromStart ? {} : { opt_start_seq: this.lastSequence + 1 }),
    });
    const messages = await consumer.consume({
      callback: (msg) => {
        if (generation === this.generation) this.apply(msg);
      },
    });
    if (this.stopped || generation !== this.generation) {
      void messages.close().catch(ignore);
      void consumer.delete().catch(ignore);
      return;
    }
    this.consumer = consumer;
    this.messages = messages;
    this.lastDeliveryAt = Date.now();
    void messages.closed().then((err) => {
      if (this.stopped || generation !== this.generation) return;
      this.options.log.warn(
        { bucket: this.options.bucket, err },
        "key index feed closed; restarting",
      );
      this.restart();
    });
  }

  /**
   * Replaces a stalled feed. Its consumer is R1 and lives on one server: when that server dies
   * (a cluster node, or a restart that drops it) the library notices only after two missed idle
   * heartbeats, which it fixes at 30 s for ordered consumers, and lists would wait that long
   * (measured: 100 s). A new consumer from the last sequence seen costs one API call.
   */
  private replaceFeed(reason: string): void {
    if (this.stopped || this.starting) return;
    this.options.log.warn(
      { bucket: this.options.bucket, reason, last_sequence: this.lastSequence },
      "key index feed stalled; replacing it",
    );
    this.restart();
  }

  /**
   * Starts a new feed, giving it FEED_REPLACE_TIMEOUT_MS: in a cluster a new consumer may be
   * placed on a node that has just died and that the cluster still counts as up, and its creation
   * then waits for the client's whole deadline (60 s here, set for the first load of a large
   * bucket). A start that takes longer is abandoned (its feed is dropped if it comes up later)
   * and tried again.
   */
  private restart(): void {
    if (this.stopped || this.starting) return;
    this.starting = true;
    const started = this.consume().then(() => true as const);
    void valueWithin(started, FEED_REPLACE_TIMEOUT_MS).then(
      (done) => {
        this.starting = false;
        if (done === true) return;
        // Abandoned: a feed that still comes up belongs to an older generation and is closed.
        this.generation += 1;
        this.retryRestart(`no feed after ${FEED_REPLACE_TIMEOUT_MS} ms`);
      },
      (err: unknown) => {
        this.starting = false;
        this.retryRestart(err);
      },
    );
  }

  private retryRestart(err: unknown): void {
    this.options.log.warn({ bucket: this.options.bucket, err }, "key index feed restart failed");
    const failed = this.generation;
    setTimeout(() => {
      // Unless another start has happened since.
      if (failed === this.generation) this.restart();
    }, 1000).unref();
  }

  private apply(msg: JsMsg): void {
    this.lastDeliveryAt = Date.now();
    // A replaced feed starts after the last sequence seen; anything older is a repeat.
    if (msg.seq <= this.lastSequence) return;
    const key = msg.subject.slice(this.subjectPrefix.length);
    const direct = !key.includes(".");
    if (direct || key.startsWith(LISTED_PREFIX)) {
      const keys = direct ? this.directKeys : this.tokenKeys;
      const operation = msg.headers?.get(KV_OPERATION_HEADER);
      if (operation === "DEL" || operation === "PURGE") keys.delete(key);
      else keys.add(key);
    }
    this.advance(msg.seq);
  }

  private advance(sequence: number): void {
    if (sequence <= this.lastSequence) return;
    this.lastSequence = sequence;
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.sequence <= sequence) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  /**
   * The stream's last sequence, fetched after the call began: concurrent callers share a lookup,
   * but never one that was already in flight when they arrived (it could predate their writes).
   */
  private streamHead(): Promise<number> {
    if (this.inFlightHead === undefined) return this.startHeadLookup();
    this.queuedHead ??= this.inFlightHead.then(ignore, ignore).then(() => {
      this.queuedHead = undefined;
      return this.startHeadLookup();
    });
    return this.queuedHead;
  }

  private startHeadLookup(): Promise<number> {
    const lookup: Promise<number> = this.fetchHead().finally(() => {
      if (this.inFlightHead === lookup) this.inFlightHead = undefined;
    });
    this.inFlightHead = lookup;
    return lookup;
  }

  private async fetchHead(): Promise<number> {
    const info = await this.options.jsm.streams.info(this.stream);
    return info.state.last_seq;
  }
}

function ignore(): void {}

/** What `promise` resolves to within `ms`, or undefined. */
async function valueWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const later = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, later]);
  } finally {
    clearTimeout(timer);
  }
}

/** True if `promise` resolves within `ms`. */
async function settlesWithin(promise: Promise<true>, ms: number): Promise<boolean> {
  return (await valueWithin(promise, ms)) === true;
}

function take(
  keys: PackedKeys,
  start: string | undefined,
  after: string | undefined,
  limit: number,
  accept: (key: string) => boolean,
): string[] {
  const result: string[] = [];
  for (const key of keys.from(start)) {
    if (key === after) continue;
    if (!accept(key)) break;
    result.push(key);
    if (result.length >= limit) break;
  }
  return result;
}
