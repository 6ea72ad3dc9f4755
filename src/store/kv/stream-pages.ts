// A page of a bucket's keys read from its stream by subject filter (docs/ARCHITECTURE.md
// "Lists"): the messages on subjects matching a filter after a stream sequence, in stream order.
// nats-server 2.10+ finds matching messages through its subject index, so a page costs its own
// messages, not the bucket's size. Errors are the client's; kv-repository.ts translates them.
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerInfo,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { createInbox, nanos, type NatsConnection } from "@nats-io/nats-core";

/** One message of the page: its subject, stream sequence and KV operation (PUT when absent). */
export interface StreamEntry {
  subject: string;
  seq: number;
  operation: string;
}

export interface StreamPageQuery {
  nc: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
  /** Whether the stream answers direct gets (`allow_direct`, set on buckets made by the client). */
  direct: boolean;
  /**
   * The page's consumer counts every acknowledged write (a stream of one replica, buckets.ts):
   * when it has delivered all it counted, the page has ended, without asking the leader.
   */
  consumerSeesAll: boolean;
  /** A subject filter, e.g. `$KV.meetings.<prefix>.>`. */
  subjects: string;
  after: number;
  /** How many entries `keep` must accept before the page is complete. */
  limit: number;
  /** Whether an entry counts towards `limit` (delete markers do not). */
  keep(entry: StreamEntry): boolean;
  /** Reading message by message stops after this long, with the page cut short. */
  budgetMs: number;
}

export interface StreamPage {
  entries: StreamEntry[];
  /**
   * Nothing matches after the last entry: the stream leader said so, or, on a one-replica
   * stream, the page's consumer delivered all it counted.
   */
  ended: boolean;
}

const KV_OPERATION = "KV-Operation";
/** A consumer left behind (its delete lost) is removed by the server after this long idle. */
const CONSUMER_INACTIVE_MS = 5000;
/**
 * How long a page waits for its consumer (to be created, or for its next message) before reading
 * message by message instead: in a cluster a consumer is placed on any replica, also on one that
 * has just died and that the cluster still counts as up (measured: lists failing for over 60 s
 * after a `kill -9` of a follower), and it then never answers. Milliseconds otherwise.
 */
const CONSUMER_WAIT_MS = 500;
/**
 * A creation not answered after this long is hedged with another (placed anew, most likely on a
 * live node), up to CONSUMER_ATTEMPTS; the first answer wins and the others are deleted.
 */
const CONSUMER_HEDGE_MS = 100;
const CONSUMER_ATTEMPTS = 3;

/**
 * Reads up to `limit` kept entries after `after`, in three steps, each going on where the one
 * before stopped:
 * 1. an ephemeral consumer, which delivers the page in one pull (pages of hundreds cost little
 *    more than pages of ten);
 * 2. if it could not be had, or found no more: direct gets with `next_by_subj` (the first matching
 *    message at or after a sequence), which any replica answers outside the JetStream API;
 * 3. where those find no more: `STREAM.MSG.GET` with `next_by_subj`, answered by the stream leader.
 * Why the leader last: a consumer or direct get may be served by a replica that has not applied
 * the newest writes, but a replica holds a prefix of the stream, so whatever it returns is the true
 * next match and only its "no more" can be wrong. The leader decides where the page ends, so a
 * list sees every write acknowledged before it was asked (docs/CONTRACT.md §3), for one extra request
 * answered "no message". Reading message by message is slow when a page is large and the
 * consumer could not be had (a cluster electing its meta leader): after `budgetMs` the page is
 * cut short, and the list goes on from there with its next request instead of missing its
 * deadline.
 */
export async function readStreamPage(query: StreamPageQuery): Promise<StreamPage> {
  const { jsm, stream, subjects } = query;
  const stopAt = Date.now() + query.budgetMs;
  // At least one message, so that a page cut short still moves on.
  const overBudget = () => entries.length > 0 && Date.now() >= stopAt;
  const entries: StreamEntry[] = [];
  let kept = 0;
  let last = query.after;
  const take = (entry: StreamEntry) => {
    entries.push(entry);
    if (query.keep(entry)) kept += 1;
    last = entry.seq;
  };
  const consumerRead = await readThroughConsumer(query, take, () => kept);
  // Asking for the next match after the consumer's last message costs the server a walk of the
  // stream from there on (nats-server 2.10 finds a wildcard's next message block by block):
  // skipped where the consumer's count is the whole truth.
  if (consumerRead === "all" && query.consumerSeesAll) return { entries, ended: true };
  // `next_by_subj` with `seq`, which the client's type for STREAM.MSG.GET leaves out.
  const next = () => ({ seq: last + 1, next_by_subj: subjects });
  while (query.direct && kept < query.limit) {
    if (overBudget()) return { entries, ended: false };
    const msg = await jsm.direct.getMessage(stream, next());
    if (msg === null) break;
    take({
      subject: msg.subject,
      seq: msg.seq,
      operation: operationOf(msg.header.get(KV_OPERATION)),
    });
  }
  while (kept < query.limit) {
    if (overBudget()) return { entries, ended: false };
    const msg = await jsm.streams.getMessage(stream, next());
    if (msg === null) return { entries, ended: true };
    take({
      subject: msg.subject,
      seq: msg.seq,
      operation: operationOf(msg.header.get(KV_OPERATION)),
    });
  }
  return { entries, ended: false };
}

function operationOf(header: string | undefined): string {
  return header === undefined || header === "" ? "PUT" : header;
}

/**
 * An ephemeral consumer from `after + 1` (headers only, no acks, in memory, one replica), pulled
 * for no more than its num_pending says exist, so a pull never waits for messages that will not
 * come; deleted afterwards without waiting for the answer. Reads nothing when the consumer is not
 * created within CONSUMER_WAIT_MS, and stops where it stalls as long (the caller reads on by
 * message).
 */
async function readThroughConsumer(
  query: StreamPageQuery,
  take: (entry: StreamEntry) => void,
  kept: () => number,
): Promise<"all" | "some" | "none"> {
  const info = await createConsumer(query);
  if (info === undefined) return "none";
  try {
    let pending = info.num_pending;
    while (pending > 0 && kept() < query.limit) {
      const batch = Math.min(pending, query.limit - kept());
      const pulled = await pull(query, info.name, batch);
      for (const { entry } of pulled) take(entry);
      const lastPulled = pulled.at(-1);
      // Fewer than asked: messages went away meanwhile (history limits), or the consumer's node
      // stalled; the caller goes on.
      if (pulled.length < batch || lastPulled === undefined) return "some";
      pending = lastPulled.pending;
    }
    return pending === 0 ? "all" : "some";
  } finally {
    void query.jsm.consumers.delete(query.stream, info.name).catch(() => undefined);
  }
}

/**
 * The page's consumer, or undefined when none was created within CONSUMER_WAIT_MS. Every other
 * consumer created for the page, now or later, is deleted.
 */
async function createConsumer(query: StreamPageQuery): Promise<ConsumerInfo | undefined> {
  const { jsm, stream } = query;
  const config = {
    filter_subject: query.subjects,
    headers_only: true,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: query.after + 1,
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
  };
  const giveUpAt = Date.now() + CONSUMER_WAIT_MS;
  const attempts: Promise<ConsumerInfo>[] = [];
  let created: ConsumerInfo | undefined;
  for (let n = 1; n <= CONSUMER_ATTEMPTS && created === undefined; n++) {
    attempts.push(jsm.consumers.add(stream, config));
    const waitMs = n === CONSUMER_ATTEMPTS ? giveUpAt - Date.now() : CONSUMER_HEDGE_MS;
    created = await valueWithin(
      Promise.any(attempts).catch(() => undefined),
      Math.max(0, waitMs),
    );
  }
  for (const attempt of attempts) {
    void attempt
      .then(async (other) => {
        if (other.name !== created?.name) await jsm.consumers.delete(stream, other.name);
      })
      .catch(() => undefined);
  }
  return created;
}

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

interface Pulled {
  entry: StreamEntry;
  /** Messages the consumer still holds after this one. */
  pending: number;
}

/**
 * One pull of up to `batch` messages with `no_wait`: what is there now, then a status; cut short
 * when no message comes for CONSUMER_WAIT_MS.
 */
async function pull(query: StreamPageQuery, consumer: string, batch: number): Promise<Pulled[]> {
  const { nc, stream } = query;
  // Under the connection's own inbox prefix: a service user may subscribe to no other inbox.
  const { inboxPrefix } = (nc as { options?: { inboxPrefix?: string } }).options ?? {};
  const inbox = createInbox(inboxPrefix);
  const sub = nc.subscribe(inbox, { max: batch + 1 });
  const timer = setTimeout(() => sub.unsubscribe(), CONSUMER_WAIT_MS);
  const pulled: Pulled[] = [];
  try {
    nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
      JSON.stringify({ batch, no_wait: true }),
      { reply: inbox },
    );
    for await (const msg of sub) {
      // A message without an ack subject is a status (404 no messages, 408): the pull is over.
      if (msg.reply === undefined || msg.reply === "") break;
      const delivery = parseAckSubject(msg.reply);
      const operation = operationOf(msg.headers?.get(KV_OPERATION));
      pulled.push({
        entry: { subject: msg.subject, seq: delivery.seq, operation },
        pending: delivery.pending,
      });
      if (pulled.length === batch) break;
      timer.refresh();
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  return pulled;
}

/**
 * Stream sequence and pending count from a delivered message's ack subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or the
 * same after `<domain>.<account hash>` and with a token at the end.
 */
function parseAckSubject(reply: string): { seq: number; pending: number } {
  const tokens = reply.split(".");
  const offset = tokens.length === 9 ? 0 : 2;
  const seq = Number(tokens[5 + offset]);
  const pending = Number(tokens[8 + offset]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(pending)) {
    throw new Error(`not a JetStream ack subject: ${reply}`);
  }
  return { seq, pending };
}
