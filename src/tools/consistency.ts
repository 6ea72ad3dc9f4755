// Cross-bucket consistency (CONTRACT §1 `npm run check-consistency`). Multi-key writes are ordered
// so that a crash between two steps leaves only what this finds: index and claim keys without
// their entity, entities without an index key, counters that drifted, dependents whose parent is
// gone. Each finding is one line naming the key or uid; with `repair` each is fixed as it is found.
//
// Buckets are walked key by key (values are read one at a time, with bounded parallelism), so
// memory follows the number of keys, not the size of the data. Keys written in the last minute
// are left alone: they may belong to a request still in flight.
import type { KV } from "@nats-io/kv";
import pLimit from "p-limit";
import { decodeKey, isDirectKey } from "../store/keys.js";
import { RevisionConflict, translateStoreError } from "../store/kv-repository.js";
import { meetingIndexKeys, type StoredMeeting } from "../store/meetings.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  registrantKey,
  type StoredRegistrant,
} from "../store/registrants.js";
import { rsvpAnswerClaimKey, rsvpIndexKeys, type StoredRsvp } from "../store/rsvps.js";
import type { Claim } from "../store/claims.js";

export interface ConsistencyBuckets {
  meetings: KV;
  meetingSettings: KV;
  registrants: KV;
  rsvps: KV;
}

export interface Finding {
  kind: string;
  bucket: string;
  /** The logical key or uid at fault. */
  subject: string;
  message: string;
}

export interface CheckOptions {
  repair: boolean;
  now: () => Date;
  /** Keys younger than this may belong to a write in flight and are not judged. */
  graceMs?: number;
  onFinding: (finding: Finding) => void;
  onProgress?: (bucket: string, keysSeen: number) => void;
}

const PARALLEL_READS = 32;

interface Entry<T> {
  value: T;
  revision: number;
  created: Date;
}

async function read<T>(kv: KV, key: string): Promise<Entry<T> | null> {
  const entry = await kv.get(key);
  if (entry === null || entry.operation !== "PUT") return null;
  return { value: entry.json<T>(), revision: entry.revision, created: entry.created };
}

/** An index key: its value is the bare uid it points to, not JSON. */
async function readMarker(kv: KV, key: string): Promise<{ uid: string; created: Date } | null> {
  const entry = await kv.get(key);
  return entry === null || entry.operation !== "PUT"
    ? null
    : { uid: entry.string(), created: entry.created };
}

function logical(key: string): string {
  try {
    return decodeKey(key).join("/");
  } catch {
    return key;
  }
}

export async function checkConsistency(
  buckets: ConsistencyBuckets,
  options: CheckOptions,
): Promise<number> {
  const graceMs = options.graceMs ?? 60_000;
  const limit = pLimit(PARALLEL_READS);
  let findings = 0;

  const isYoung = (created: Date) => options.now().getTime() - created.getTime() < graceMs;
  const found = (kind: string, bucket: string, subject: string, message: string) => {
    findings += 1;
    options.onFinding({ kind, bucket, subject, message });
  };

  /** Visits every key of a bucket with bounded parallelism. */
  async function walk(name: string, kv: KV, visit: (key: string) => Promise<void>) {
    let seen = 0;
    const pending = new Set<Promise<void>>();
    for await (const key of await kv.keys()) {
      const task = limit(() => visit(key)).finally(() => pending.delete(task));
      pending.add(task);
      seen += 1;
      if (seen % 1000 === 0) options.onProgress?.(name, seen);
      if (pending.size >= PARALLEL_READS * 4) await Promise.race(pending);
    }
    await Promise.all(pending);
    options.onProgress?.(name, seen);
  }

  /** Puts a missing marker key (index key), returning whether it was missing. */
  async function ensureMarker(kv: KV, bucket: string, key: string, uid: string, owner: string) {
    if ((await kv.get(key))?.operation === "PUT") return;
    found("missing-index-key", bucket, logical(key), `missing for ${owner}`);
    if (options.repair) await kv.put(key, uid);
  }

  // Registrants: counted per meeting on the way, for registrant_count below.
  const registrantsByMeeting = new Map<string, number>();
  const liveRegistrants = new Set<string>();
  /** Meetings with a registrant so new that its count may not be written yet. */
  const meetingsInFlight = new Set<string>();
  await walk("meeting-registrants", buckets.registrants, async (key) => {
    const segments = decodeKey(key);
    const [kind] = segments;
    if (kind === "registrant") {
      const entry = await read<StoredRegistrant>(buckets.registrants, key);
      if (entry === null) return;
      const registrant = entry.value;
      const meeting = await read<StoredMeeting>(buckets.meetings, registrant.meeting_uid);
      if (meeting === null && !isYoung(entry.created)) {
        found(
          "orphan-registrant",
          "meeting-registrants",
          registrant.uid,
          `meeting ${registrant.meeting_uid} does not exist`,
        );
        if (options.repair) {
          await buckets.registrants.delete(key);
          await Promise.all(
            registrantIndexKeys(registrant).map((k) => buckets.registrants.delete(k)),
          );
          await buckets.registrants.delete(
            registrantEmailClaimKey(registrant.meeting_uid, registrant.email),
          );
        }
        return;
      }
      liveRegistrants.add(registrant.uid);
      if (isYoung(entry.created)) meetingsInFlight.add(registrant.meeting_uid);
      registrantsByMeeting.set(
        registrant.meeting_uid,
        (registrantsByMeeting.get(registrant.meeting_uid) ?? 0) + 1,
      );
      for (const indexKey of registrantIndexKeys(registrant)) {
        await ensureMarker(
          buckets.registrants,
          "meeting-registrants",
          indexKey,
          registrant.uid,
          `registrant ${registrant.uid}`,
        );
      }
      const claimKey = registrantEmailClaimKey(registrant.meeting_uid, registrant.email);
      const claim = await read<Claim>(buckets.registrants, claimKey);
      if (claim?.value.uid !== registrant.uid) {
        found(
          "missing-claim",
          "meeting-registrants",
          logical(claimKey),
          `not held by registrant ${registrant.uid}`,
        );
        if (options.repair)
          await buckets.registrants.put(
            claimKey,
            JSON.stringify({ uid: registrant.uid, claimed_at: options.now().toISOString() }),
          );
      }
      return;
    }
    const marker = await readMarker(buckets.registrants, key);
    if (marker === null || isYoung(marker.created)) return;
    if (kind === "index") {
      const uid = marker.uid;
      const registrant = await read<StoredRegistrant>(buckets.registrants, registrantKey(uid));
      if (registrant === null || !registrantIndexKeys(registrant.value).includes(key)) {
        found(
          "orphan-index-key",
          "meeting-registrants",
          logical(key),
          `registrant ${uid} does not match`,
        );
        if (options.repair) await buckets.registrants.delete(key);
      }
    } else if (kind === "unique") {
      const claim = (await read<Claim>(buckets.registrants, key))?.value;
      if (claim === undefined) return;
      const registrant = await read<StoredRegistrant>(
        buckets.registrants,
        registrantKey(claim.uid),
      );
      const expected =
        registrant === null
          ? undefined
          : registrantEmailClaimKey(registrant.value.meeting_uid, registrant.value.email);
      if (expected !== key) {
        found(
          "orphan-claim",
          "meeting-registrants",
          logical(key),
          `registrant ${claim.uid} does not hold it`,
        );
        if (options.repair) await buckets.registrants.delete(key);
      }
    }
  });

  // RSVPs: the registrant and meeting must exist, index keys and claim must be in place.
  await walk("meeting-rsvps", buckets.rsvps, async (key) => {
    if (isDirectKey(key)) {
      const entry = await read<StoredRsvp>(buckets.rsvps, key);
      if (entry === null) return;
      const rsvp = entry.value;
      if (!liveRegistrants.has(rsvp.registrant_uid) && !isYoung(entry.created)) {
        const registrant = await read<StoredRegistrant>(
          buckets.registrants,
          registrantKey(rsvp.registrant_uid),
        );
        if (registrant === null) {
          found(
            "orphan-rsvp",
            "meeting-rsvps",
            rsvp.uid,
            `registrant ${rsvp.registrant_uid} does not exist`,
          );
          if (options.repair) {
            await buckets.rsvps.delete(key);
            await Promise.all(rsvpIndexKeys(rsvp).map((k) => buckets.rsvps.delete(k)));
            await buckets.rsvps.delete(rsvpAnswerClaimKey(rsvp));
          }
          return;
        }
      }
      for (const indexKey of rsvpIndexKeys(rsvp)) {
        await ensureMarker(buckets.rsvps, "meeting-rsvps", indexKey, rsvp.uid, `rsvp ${rsvp.uid}`);
      }
      const claim = await read<Claim>(buckets.rsvps, rsvpAnswerClaimKey(rsvp));
      if (claim?.value.uid !== rsvp.uid) {
        found(
          "missing-claim",
          "meeting-rsvps",
          logical(rsvpAnswerClaimKey(rsvp)),
          `not held by rsvp ${rsvp.uid}`,
        );
        if (options.repair)
          await buckets.rsvps.put(
            rsvpAnswerClaimKey(rsvp),
            JSON.stringify({ uid: rsvp.uid, claimed_at: options.now().toISOString() }),
          );
      }
      return;
    }
    const marker = await readMarker(buckets.rsvps, key);
    if (marker === null || isYoung(marker.created)) return;
    const segments = decodeKey(key);
    const holder =
      segments[0] === "unique"
        ? ((await read<Claim>(buckets.rsvps, key))?.value.uid ?? "")
        : marker.uid;
    const rsvp = await read<StoredRsvp>(buckets.rsvps, holder);
    const expected =
      rsvp === null ? [] : [...rsvpIndexKeys(rsvp.value), rsvpAnswerClaimKey(rsvp.value)];
    if (!expected.includes(key)) {
      found(
        segments[0] === "unique" ? "orphan-claim" : "orphan-index-key",
        "meeting-rsvps",
        logical(key),
        `rsvp ${holder} does not match`,
      );
      if (options.repair) await buckets.rsvps.delete(key);
    }
  });

  // Meetings: index keys both ways, settings, registrant_count.
  await walk("meetings", buckets.meetings, async (key) => {
    if (!isDirectKey(key)) {
      const marker = await readMarker(buckets.meetings, key);
      if (marker === null || isYoung(marker.created)) return;
      const uid = marker.uid;
      const meeting = await read<StoredMeeting>(buckets.meetings, uid);
      if (meeting === null || !meetingIndexKeys(meeting.value).includes(key)) {
        found("orphan-index-key", "meetings", logical(key), `meeting ${uid} does not match`);
        if (options.repair) await buckets.meetings.delete(key);
      }
      return;
    }
    const entry = await read<StoredMeeting>(buckets.meetings, key);
    if (entry === null) return;
    const meeting = entry.value;
    for (const indexKey of meetingIndexKeys(meeting)) {
      await ensureMarker(
        buckets.meetings,
        "meetings",
        indexKey,
        meeting.uid,
        `meeting ${meeting.uid}`,
      );
    }
    if ((await read(buckets.meetingSettings, meeting.uid)) === null) {
      found(
        "missing-settings",
        "meeting-settings",
        meeting.uid,
        `meeting ${meeting.uid} has no settings`,
      );
      if (options.repair) {
        const stamp = options.now().toISOString();
        await buckets.meetingSettings.create(
          meeting.uid,
          JSON.stringify({
            uid: meeting.uid,
            organizers: [],
            created_at: stamp,
            updated_at: stamp,
          }),
        );
      }
    }
    const counted = registrantsByMeeting.get(meeting.uid) ?? 0;
    const settled = !isYoung(entry.created) && !meetingsInFlight.has(meeting.uid);
    if (meeting.registrant_count !== counted && settled) {
      found(
        "registrant-count",
        "meetings",
        meeting.uid,
        `registrant_count is ${meeting.registrant_count}, registrants ${counted}`,
      );
      if (options.repair) await setRegistrantCount(buckets.meetings, meeting.uid, counted);
    }
  });

  // Settings whose meeting is gone.
  await walk("meeting-settings", buckets.meetingSettings, async (key) => {
    const settings = await readMarker(buckets.meetingSettings, key);
    if (settings === null || isYoung(settings.created)) return;
    if ((await read(buckets.meetings, key)) === null) {
      found("orphan-settings", "meeting-settings", key, `meeting ${key} does not exist`);
      if (options.repair) await buckets.meetingSettings.delete(key);
    }
  });

  return findings;
}

/** Sets the counter at the meeting's current revision, again if a write raced with it. */
async function setRegistrantCount(meetings: KV, uid: string, count: number): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await read<StoredMeeting>(meetings, uid);
    if (current === null) return;
    try {
      await meetings.update(
        uid,
        JSON.stringify({ ...current.value, registrant_count: count }),
        current.revision,
      );
      return;
    } catch (err) {
      if (!(translateStoreError(err, "meetings", uid) instanceof RevisionConflict)) throw err;
    }
  }
}
