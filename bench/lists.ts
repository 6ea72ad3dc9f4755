// `npm run bench:lists`: what a page of a list costs when it is read from the bucket's stream by
// subject filter (docs/ARCHITECTURE.md "Lists"), by the two ways a page can be read, at parents
// of 50 and 30,000 children, deep in the paging, and with 1,000 vs 100,000 other keys in the
// bucket; and how long a fresh instance takes to answer `$SRV.PING` on a filled bucket. Starts
// its own nats-server (NATS_SERVER_BIN) and prints medians; a minute or two.
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { createInbox, nanos, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { KvRepository, type ListedKey } from "../src/store/kv/kv-repository.js";
import { encodeKey, encodeKeyPrefix } from "../src/store/kv/keys.js";
import { readPage } from "../src/store/kv/paging.js";
import { bareBucket } from "../test/support/bare-bucket.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { answersPing, memoryOf, spawnNode, waitReady } from "./processes.js";

const ROUNDS = 30;
const PAGE = 20;
const FILL_IN_FLIGHT = 256;

function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function medianMs(run: () => Promise<unknown>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return median(times);
}

const indexKey = (parent: string, uid: string) => encodeKey(["index", "meeting", parent, uid]);
const prefixOf = (parent: string) => encodeKeyPrefix(["index", "meeting", parent]);

/** Writes `keys` in a random order, FILL_IN_FLIGHT at a time; the stream sequence of each. */
async function fill(kv: KV, keys: string[]): Promise<Map<string, number>> {
  const shuffled = [...keys];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
  }
  const seqs = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: FILL_IN_FLIGHT }, async () => {
      while (next < shuffled.length) {
        const key = shuffled[next++] as string;
        seqs.set(key, await kv.put(key, "{}"));
      }
    }),
  );
  return seqs;
}

function children(parent: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => indexKey(parent, `c${i}`));
}

/** The sequence after which the page starting at child `index` (in stream order) begins. */
function afterChild(seqs: Map<string, number>, keys: string[], index: number): number {
  if (index === 0) return 0;
  const ordered = keys.map((key) => seqs.get(key) as number).sort((a, b) => a - b);
  return ordered[index - 1] as number;
}

/**
 * (a) An ephemeral consumer per page: headers only, from `after + 1`, as many messages as its
 * num_pending says exist (so the fetch never waits), deleted afterwards without waiting.
 */
async function consumerPage(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  after: number,
  count: number,
): Promise<number[]> {
  const info = await jsm.consumers.add(stream, {
    filter_subject: filter,
    headers_only: true,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: after + 1,
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(5000),
  });
  const wanted = Math.min(info.num_pending, count);
  const seqs: number[] = [];
  if (wanted > 0) {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { max: wanted });
    nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${info.name}`,
      JSON.stringify({ batch: wanted, no_wait: true }),
      { reply: inbox },
    );
    for await (const msg of sub) {
      // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
      seqs.push(Number(msg.reply?.split(".")[5]));
    }
  }
  void jsm.consumers.delete(stream, info.name).catch(() => undefined);
  return seqs;
}

/** The next message matching `next_by_subj` at or after `seq`, or null: one request. */
type NextMessage = (query: {
  seq: number;
  next_by_subj: string;
}) => Promise<{ seq: number } | null>;

/**
 * (b) and (c): one request per message, each starting after the last: by `STREAM.MSG.GET`,
 * answered by the stream leader, or by direct get, which any replica answers without the
 * JetStream API.
 */
async function sequentialPage(
  next: NextMessage,
  filter: string,
  after: number,
  count: number,
): Promise<number[]> {
  const seqs: number[] = [];
  for (let seq = after + 1; seqs.length < count;) {
    const msg = await next({ seq, next_by_subj: filter });
    if (msg === null) break;
    seqs.push(msg.seq);
    seq = msg.seq + 1;
  }
  return seqs;
}

interface Case {
  label: string;
  prefix: string;
  after: number;
  /** Page size; PAGE unless given. */
  limit?: number;
}

async function measureCases(
  nc: NatsConnection,
  jsm: JetStreamManager,
  repo: KvRepository<object>,
  stream: string,
  name: string,
  cases: Case[],
): Promise<void> {
  for (const { label, prefix, after, limit = PAGE } of cases) {
    const filter = `$KV.${name}.${prefix}>`;
    const viaGets = await medianMs(() =>
      sequentialPage((q) => jsm.streams.getMessage(stream, q), filter, after, limit + 1),
    );
    const viaConsumer = await medianMs(() =>
      consumerPage(nc, jsm, stream, filter, after, limit + 1),
    );
    const viaDirect = await medianMs(() =>
      sequentialPage((q) => jsm.direct.getMessage(stream, q), filter, after, limit + 1),
    );
    const asListed = await medianMs(() => repo.keysUnder(prefix, after, limit + 1));
    // The whole page as a list reads it: keys, then each key's check and item read together.
    const page = await medianMs(() =>
      readPage({
        scope: "bench",
        limit,
        cursor: undefined,
        maxReplyBytes: 1 << 20,
        source: {
          keys: (from, count) => repo.keysUnder(prefix, from === 0 ? after : from, count),
          isCurrent: (listed: ListedKey) => repo.isCurrent(listed),
        },
        load: (key) => repo.get(key),
      }),
    );
    process.stdout.write(
      `| ${label} | ${viaGets.toFixed(2)} ms | ${viaConsumer.toFixed(2)} ms | ${viaDirect.toFixed(2)} ms | ${asListed.toFixed(2)} ms | ${page.toFixed(2)} ms |\n`,
    );
  }
}

async function bucketNamed(nc: NatsConnection, name: string) {
  const { bucket, kv, stream } = await bareBucket(nc, name, "meetings", { history: 5 });
  return { kv, repo: new KvRepository<object>(bucket), stream };
}

async function startUpMs(url: string, service: string): Promise<{ ms: number; rss: number }> {
  const nc = await connect({ servers: url });
  const scratch = await mkdtemp(join(tmpdir(), "lfx-bench-lists-"));
  const started = performance.now();
  const instance = spawnNode(
    service,
    {
      NATS_URL: url,
      AUTH_MODE: "off",
      PLATFORM_LOOKUPS: "off",
      INVITATIONS: "off",
      LOG_LEVEL: "warn",
    },
    join(scratch, "service.log"),
  );
  try {
    await waitReady(instance, "the service", () => answersPing(nc, "lfx-meeting-service"), 300_000);
    return { ms: performance.now() - started, rss: memoryOf(instance.pid).rss_mib };
  } finally {
    await instance.stop();
    await nc.close();
  }
}

async function main(): Promise<void> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  const service = process.env["SERVICE_MAIN"] ?? join(repositoryRoot(), "dist", "main.js");
  try {
    const empty = await startUpMs(server.url, service);

    // 1,000 other keys (10 parents of 100) and the small parent's 50, in a random order.
    const few = await bucketNamed(nc, "lists-few");
    const smallFew = children("small", 50);
    const fewSeqs = await fill(few.kv, [
      ...smallFew,
      ...Array.from({ length: 10 }, (_, p) => children(`other${p}`, 100)).flat(),
    ]);

    // The service's own meetings bucket: 100,000 other keys (1,000 parents of 100), a parent of
    // 50 and one of 30,000, in a random order; then a fresh instance is started on it.
    const many = await bucketNamed(nc, "meetings");
    const small = children("small", 50);
    const big = children("big", 30_000);
    const others = Array.from({ length: 1000 }, (_, p) => children(`other${p}`, 100)).flat();
    const manySeqs = await fill(many.kv, [...small, ...big, ...others]);

    process.stdout.write(
      `\n| page of ${PAGE} (+1 to know whether more follow) | (b) STREAM.MSG.GET next_by_subj | (a) ephemeral consumer | (c) direct gets, next_by_subj | as lists read it (c, then the leader confirms the end) | whole page (+ checks and item gets) |\n| --- | --- | --- | --- | --- | --- |\n`,
    );
    await measureCases(nc, jsm, few.repo, few.stream, "lists-few", [
      { label: "parent of 50, 1,000 other keys", prefix: prefixOf("small"), after: 0 },
      {
        label: "parent of 50, 1,000 other keys, after 25",
        prefix: prefixOf("small"),
        after: afterChild(fewSeqs, smallFew, 25),
      },
    ]);
    await measureCases(nc, jsm, many.repo, many.stream, "meetings", [
      { label: "parent of 50, 130,000 other keys", prefix: prefixOf("small"), after: 0 },
      {
        label: "parent of 50, 130,000 other keys, after 25",
        prefix: prefixOf("small"),
        after: afterChild(manySeqs, small, 25),
      },
      { label: "parent of 30,000, 100,050 other keys", prefix: prefixOf("big"), after: 0 },
      {
        label: "parent of 30,000, after 20,000",
        prefix: prefixOf("big"),
        after: afterChild(manySeqs, big, 20_000),
      },
      { label: "parent of 30,000, page of 1,000", prefix: prefixOf("big"), after: 0, limit: 1000 },
    ]);

    const filled = await startUpMs(server.url, service);
    process.stdout.write(
      `\nstart-up to $SRV.PING: empty buckets ${empty.ms.toFixed(0)} ms (RSS ${empty.rss.toFixed(0)} MiB), ` +
        `${manySeqs.size} keys in meetings ${filled.ms.toFixed(0)} ms (RSS ${filled.rss.toFixed(0)} MiB)\n`,
    );
  } finally {
    await nc.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
