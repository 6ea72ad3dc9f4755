// An in-process, sorted copy of the key set of one bucket, fed by a headers-only ordered consumer.
// Why: on nats-server 2.9 a wildcard key listing walks the whole bucket (FACTS.md), so a list whose
// cost must follow its result size cannot ask the server. This copy answers a prefix range in
// O(log n + page) and is brought up to date with the stream before every list (`sync`), so a list
// sees every write acknowledged before it was asked, on any instance. Values are never held.
import sortedBtree from "sorted-btree";
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

// sorted-btree is CommonJS: under Node's ESM interop its class is the `default` property.
const BTree = sortedBtree.default;
type SortedKeys = InstanceType<typeof BTree<string, true>>;

const KV_OPERATION_HEADER = "KV-Operation";

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
  /** Keys made of several tokens: index keys, and registrant entity keys (CONTRACT §6). */
  private readonly tokenKeys = new BTree<string, true>();
  /** Single-token keys: the uids of a direct-key bucket. */
  private readonly directKeys = new BTree<string, true>();
  private readonly stream: string;
  private readonly subjectPrefix: string;
  private lastSequence = 0;
  private waiters: Waiter[] = [];
  private consumer: PushConsumer | undefined;
  private messages: ConsumerMessages | undefined;
  private stopped = false;
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
    await index.sync(loadTimeoutMs);
    return index;
  }

  get size(): number {
    return this.tokenKeys.size + this.directKeys.size;
  }

  /** Multi-token keys starting with `prefix` (ending in "."), after `after`, in key order. */
  range(prefix: string, after: string | undefined, limit: number): string[] {
    const start = after !== undefined && after > prefix ? after : prefix;
    return take(this.tokenKeys, start, after, limit, (key) => key.startsWith(prefix));
  }

  /** Single-token keys (uids) after `after`, in key order. */
  directRange(after: string | undefined, limit: number): string[] {
    return take(this.directKeys, after, after, limit, () => true);
  }

  /** Waits until the copy holds every write the stream had acknowledged when this was called. */
  async sync(timeoutMs = this.options.syncTimeoutMs): Promise<void> {
    const head = await this.streamHead();
    if (this.lastSequence >= head) return;
    const caughtUp = new Promise<void>((resolve) => {
      this.waiters.push({ sequence: head, resolve });
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      if ((await Promise.race([caughtUp, timedOut])) === "timeout") {
        // The newest message can be gone (a purged stream): the consumer then has nothing left
        // to deliver although the sequence was never seen.
        const info = await this.consumer?.info(false);
        if (info !== undefined && info.num_pending === 0 && info.num_ack_pending === 0) {
          this.advance(head);
          return;
        }
        throw unavailable(`key index of ${this.options.bucket} is catching up`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
  }

  private async consume(): Promise<void> {
    const fromStart = this.lastSequence === 0;
    this.consumer = await this.options.js.consumers.getPushConsumer(this.stream, {
      filter_subjects: `${this.subjectPrefix}>`,
      headers_only: true,
      deliver_policy: fromStart ? DeliverPolicy.LastPerSubject : DeliverPolicy.StartSequence,
      ...(fromStart ? {} : { opt_start_seq: this.lastSequence + 1 }),
    });
    this.messages = await this.consumer.consume({ callback: (msg) => this.apply(msg) });
    void this.messages.closed().then((err) => {
      if (this.stopped) return;
      this.options.log.warn(
        { bucket: this.options.bucket, err },
        "key index feed closed; restarting",
      );
      this.restart();
    });
  }

  private restart(): void {
    this.consume().catch((err: unknown) => {
      this.options.log.error({ bucket: this.options.bucket, err }, "key index feed restart failed");
      setTimeout(() => this.restart(), 1000).unref();
    });
  }

  private apply(msg: JsMsg): void {
    const key = msg.subject.slice(this.subjectPrefix.length);
    const keys = key.includes(".") ? this.tokenKeys : this.directKeys;
    const operation = msg.headers?.get(KV_OPERATION_HEADER);
    if (operation === "DEL" || operation === "PURGE") keys.delete(key);
    else keys.set(key, true);
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

function take(
  tree: SortedKeys,
  start: string | undefined,
  after: string | undefined,
  limit: number,
  accept: (key: string) => boolean,
): string[] {
  const result: string[] = [];
  for (const [key] of tree.entries(start)) {
    if (key === after) continue;
    if (!accept(key)) break;
    result.push(key);
    if (result.length >= limit) break;
  }
  return result;
}
