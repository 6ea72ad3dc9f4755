// Fills buckets with "other" entities for the scale measurements, written straight to the
// buckets' streams in exactly the service's layout: the key builders of src/store are used, so a
// filled registrant has its entity key, its index keys and its email claim like one created
// through `lfx.registrants.create`. Others are grouped 20 to a parent (meeting or project).
// `putAll` is the fill itself, for any entities: bench/consistency.ts writes a consistent data set
// with it.
//
// A KV put is a publish to `$KV.<bucket>.<key>`: they are sent with up to CHUNK unacknowledged,
// their acks counted on one inbox, much faster than one put after another. Publishes without
// acks were no faster, but on a loaded machine the server dropped some of millions (the fill then
// stopped the run); the final count proves that nothing was lost.
import { randomUUID } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import { nanoid } from "nanoid";
import { directKey } from "../src/store/kv/keys.js";
import { meetingIndexKeys, type StoredMeeting } from "../src/store/resources/meetings.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  registrantKey,
  type StoredRegistrant,
} from "../src/store/resources/registrants.js";

const CHILDREN_PER_PARENT = 20;
/** Publishes in flight: bounds what the client buffers while the server stores. */
const CHUNK = 4000;
const STORE_TIMEOUT_MS = 120_000;

/** One key of a fill: the key and its value as the service stores it. */
export interface Put {
  key: string;
  value: string;
}

export interface Filler {
  nc: NatsConnection;
  jsm: JetStreamManager;
}

async function storedMessages(jsm: JetStreamManager, bucket: string): Promise<number> {
  return (await jsm.streams.info(`KV_${bucket}`)).state.messages;
}

/** Counts the acks of puts sent with `inbox` as their reply subject; fails on an error ack. */
function ackCounter(nc: NatsConnection) {
  const inbox = createInbox();
  let received = 0;
  let failure: string | undefined;
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err !== null) failure ??= err.message;
      else if (msg.json<{ error?: { description?: string } }>().error !== undefined) {
        failure ??= msg.string();
      }
      received += 1;
    },
  });
  return {
    inbox,
    received: () => received,
    /** Resolves once `count` acks arrived; fails on an error ack or after STORE_TIMEOUT_MS. */
    async until(count: number): Promise<void> {
      const deadline = Date.now() + STORE_TIMEOUT_MS;
      while (received < count) {
        if (failure !== undefined) throw new Error(`a put failed: ${failure}`);
        if (Date.now() > deadline) throw new Error(`${received} of ${count} puts acknowledged`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (failure !== undefined) throw new Error(`a put failed: ${failure}`);
    },
    stop: () => sub.unsubscribe(),
  };
}

/** Writes the keys of `count` entities into `bucket`, showing progress on stderr. */
export async function putAll(
  { nc, jsm }: Filler,
  bucket: string,
  count: number,
  keysOf: (n: number) => Put[],
): Promise<void> {
  if (count <= 0) return;
  const before = await storedMessages(jsm, bucket);
  const started = performance.now();
  const interactive = process.stderr.isTTY;
  let lastShown = started;
  const show = (done: number, keys: number, final: boolean) => {
    const now = performance.now();
    if (!final && now - lastShown < (interactive ? 250 : 5000)) return;
    lastShown = now;
    const rate = Math.round(keys / ((now - started) / 1000));
    const line =
      `  filling ${bucket}: ${done.toLocaleString("en-US")}/${count.toLocaleString("en-US")} ` +
      `entities, ${keys.toLocaleString("en-US")} keys (${rate.toLocaleString("en-US")} keys/s)`;
    process.stderr.write(interactive ? `\r${line}\x1b[K${final ? "\n" : ""}` : `${line}\n`);
  };
  // Every put asks for its ack on one inbox: cheaper than a request (timer, promise) per put.
  const acks = ackCounter(nc);
  let keys = 0;
  try {
    for (let n = 0; n < count; n++) {
      for (const { key, value } of keysOf(n)) {
        nc.publish(`$KV.${bucket}.${key}`, value, { reply: acks.inbox });
        keys += 1;
      }
      if (keys - acks.received() >= CHUNK) {
        await acks.until(keys - CHUNK / 2);
        show(n + 1, keys, false);
      }
    }
    await acks.until(keys);
  } finally {
    acks.stop();
  }
  const deadline = Date.now() + STORE_TIMEOUT_MS;
  for (;;) {
    const stored = (await storedMessages(jsm, bucket)) - before;
    if (stored >= keys) break;
    if (Date.now() > deadline) {
      throw new Error(`${bucket}: ${stored} of ${keys} keys stored after the fill`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  show(count, keys, true);
}

/** `count` more meetings like `template`, in projects of 20 other than the measured one. */
export async function fillMeetings(
  filler: Filler,
  bucket: string,
  template: StoredMeeting,
  count: number,
): Promise<void> {
  let project = randomUUID();
  await putAll(filler, bucket, count, (n) => {
    if (n % CHILDREN_PER_PARENT === 0) project = randomUUID();
    const uid = nanoid();
    const meeting: StoredMeeting = {
      ...template,
      uid,
      project_uid: project,
      public_link: (template.public_link ?? "").replace(template.uid, uid),
    };
    return [
      ...meetingIndexKeys(meeting).map((key) => ({ key, value: uid })),
      { key: directKey(uid), value: JSON.stringify(meeting) },
    ];
  });
}

/** `count` more registrants like `template`, in meetings of 20 other than the measured one. */
export async function fillRegistrants(
  filler: Filler,
  bucket: string,
  template: StoredRegistrant,
  count: number,
): Promise<void> {
  let meetingUid = nanoid();
  const claimedAt = new Date().toISOString();
  await putAll(filler, bucket, count, (n) => {
    if (n % CHILDREN_PER_PARENT === 0) meetingUid = nanoid();
    const uid = nanoid();
    const email = `other.${uid.toLowerCase()}@example.org`;
    const registrant: StoredRegistrant = { ...template, uid, meeting_uid: meetingUid, email };
    return [
      {
        key: registrantEmailClaimKey(meetingUid, email),
        value: JSON.stringify({ uid, claimed_at: claimedAt }),
      },
      ...registrantIndexKeys(registrant).map((key) => ({ key, value: uid })),
      { key: registrantKey(uid), value: JSON.stringify(registrant) },
    ];
  });
}

/** Keys (subjects holding a value or a delete marker) in all of `buckets`' streams. */
export async function keysInBuckets(
  jsm: JetStreamManager,
  buckets: readonly string[],
): Promise<number> {
  const counts = await Promise.all(
    buckets.map(async (bucket) => (await jsm.streams.info(`KV_${bucket}`)).state.num_subjects ?? 0),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}
