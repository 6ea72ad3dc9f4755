// Cross-bucket consistency (CONTRACT §1 `npm run check-consistency`). Multi-key writes are ordered
// so that a crash between two steps leaves only what this finds: index and claim keys without
// their entity, entities without an index key or claim, counters and uid lists that drifted,
// dependents whose parent is gone. Each finding is one line naming the key or uid; with `repair`
// each is fixed as it is found.
//
// Buckets are walked key by key (values are read one at a time, with bounded parallelism), so
// memory follows the number of keys, not the size of the data. Keys written within the grace
// period are left alone: they may belong to a request still in flight.
import type { KV } from "@nats-io/kv";
import pLimit from "p-limit";
import type { Claim } from "../store/claims.js";
import { decodeKey, isDirectKey } from "../store/keys.js";
import { RevisionConflict, translateStoreError } from "../store/kv-repository.js";
import { meetingIndexKeys, type StoredMeeting } from "../store/meetings.js";
import { artifactIndexKeys } from "../store/artifacts.js";
import {
  participantEmailClaimKey,
  participantIndexKeys,
  type StoredParticipant,
} from "../store/participants.js";
import {
  pastMeetingIndexKeys,
  pastMeetingStartClaimKey,
  type StoredPastMeeting,
} from "../store/past-meetings.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  registrantKey,
  type StoredRegistrant,
} from "../store/registrants.js";
import { rsvpAnswerClaimKey, rsvpIndexKeys, type StoredRsvp } from "../store/rsvps.js";

export interface ConsistencyBuckets {
  meetings: KV;
  meetingSettings: KV;
  registrants: KV;
  rsvps: KV;
  pastMeetings: KV;
  participants: KV;
  recordings: KV;
  transcripts: KV;
  summaries: KV;
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
  /** Keys younger than this may belong to a write in flight and are not judged (default 60 s). */
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
  if (entry === null || entry.operation !== "PUT") return null;
  return { uid: entry.string(), created: entry.created };
}

function logical(key: string): string {
  try {
    return decodeKey(key).join("/");
  } catch {
    return key;
  }
}

/**
 * How one bucket of entities hangs together: the keys an entity must have besides its own
 * (index keys holding its uid, claims holding `{uid}`), and the parent it cannot live without.
 */
interface EntitySpec<T extends { uid: string }> {
  bucket: string;
  kv: KV;
  /** The entity's own key from its uid. */
  entityKey(uid: string): string;
  isEntityKey(key: string): boolean;
  indexKeys(entity: T): string[];
  claimKeys(entity: T): string[];
  /** Why the entity is an orphan (its parent is gone), or null. */
  orphaned(entity: T): Promise<string | null>;
  /** Called for every entity that stays (to gather facts for later checks). */
  seen?(entity: T, young: boolean): void;
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
  const claimOf = (uid: string) =>
    JSON.stringify({ uid, claimed_at: options.now().toISOString() } satisfies Claim);

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

  /** Entities, their index keys and claims, both ways; orphans are deleted with their keys. */
  async function checkEntities<T extends { uid: string }>(spec: EntitySpec<T>) {
    const { bucket, kv } = spec;
    const removeWithKeys = async (key: string, entity: T) => {
      await kv.delete(key);
      await Promise.all(
        [...spec.indexKeys(entity), ...spec.claimKeys(entity)].map((k) => kv.delete(k)),
      );
    };
    await walk(bucket, kv, async (key) => {
      if (spec.isEntityKey(key)) {
        const entry = await read<T>(kv, key);
        if (entry === null) return;
        const entity = entry.value;
        const young = isYoung(entry.created);
        const orphanReason = young ? null : await spec.orphaned(entity);
        if (orphanReason !== null) {
          found("orphan-entity", bucket, entity.uid, orphanReason);
          if (options.repair) await removeWithKeys(key, entity);
          return;
        }
        spec.seen?.(entity, young);
        for (const indexKey of spec.indexKeys(entity)) {
          if ((await readMarker(kv, indexKey)) !== null) continue;
          found("missing-index-key", bucket, logical(indexKey), `missing for ${entity.uid}`);
          if (options.repair) await kv.put(indexKey, entity.uid);
        }
        for (const claimKey of spec.claimKeys(entity)) {
          const claim = await read<Claim>(kv, claimKey);
          if (claim?.value.uid === entity.uid) continue;
          found("missing-claim", bucket, logical(claimKey), `not held by ${entity.uid}`);
          if (options.repair) await kv.put(claimKey, claimOf(entity.uid));
        }
        return;
      }
      // An index key or a claim: the entity it names must exist and have it.
      const marker = await readMarker(kv, key);
      if (marker === null || isYoung(marker.created)) return;
      const isClaim = decodeKey(key)[0] === "unique";
      const holder = isClaim ? ((await read<Claim>(kv, key))?.value.uid ?? "") : marker.uid;
      const entity = holder === "" ? null : await read<T>(kv, spec.entityKey(holder));
      const expected =
        entity === null
          ? []
          : isClaim
            ? spec.claimKeys(entity.value)
            : spec.indexKeys(entity.value);
      if (!expected.includes(key)) {
        found(
          isClaim ? "orphan-claim" : "orphan-index-key",
          bucket,
          logical(key),
          `${holder || "no entity"} does not match`,
        );
        if (options.repair) await kv.delete(key);
      }
    });
  }

  const exists = async (kv: KV, key: string) => (await readMarker(kv, key)) !== null;

  // Registrants, counted per meeting for registrant_count below.
  const registrantsByMeeting = new Map<string, number>();
  const meetingsInFlight = new Set<string>();
  await checkEntities<StoredRegistrant>({
    bucket: "meeting-registrants",
    kv: buckets.registrants,
    entityKey: registrantKey,
    isEntityKey: (key) => decodeKey(key)[0] === "registrant",
    indexKeys: registrantIndexKeys,
    claimKeys: (r) => [registrantEmailClaimKey(r.meeting_uid, r.email)],
    orphaned: async (r) =>
      (await exists(buckets.meetings, r.meeting_uid))
        ? null
        : `meeting ${r.meeting_uid} does not exist`,
    seen: (r, young) => {
      registrantsByMeeting.set(r.meeting_uid, (registrantsByMeeting.get(r.meeting_uid) ?? 0) + 1);
      if (young) meetingsInFlight.add(r.meeting_uid);
    },
  });

  await checkEntities<StoredRsvp>({
    bucket: "meeting-rsvps",
    kv: buckets.rsvps,
    entityKey: (uid) => uid,
    isEntityKey: isDirectKey,
    indexKeys: rsvpIndexKeys,
    claimKeys: (r) => [rsvpAnswerClaimKey(r)],
    orphaned: async (r) =>
      (await exists(buckets.registrants, registrantKey(r.registrant_uid)))
        ? null
        : `registrant ${r.registrant_uid} does not exist`,
  });

  // Meetings: index keys both ways, settings, registrant_count.
  await walk("meetings", buckets.meetings, async (key) => {
    if (!isDirectKey(key)) {
      const marker = await readMarker(buckets.meetings, key);
      if (marker === null || isYoung(marker.created)) return;
      const meeting = await read<StoredMeeting>(buckets.meetings, marker.uid);
      if (meeting === null || !meetingIndexKeys(meeting.value).includes(key)) {
        found("orphan-index-key", "meetings", logical(key), `meeting ${marker.uid} does not match`);
        if (options.repair) await buckets.meetings.delete(key);
      }
      return;
    }
    const entry = await read<StoredMeeting>(buckets.meetings, key);
    if (entry === null) return;
    const meeting = entry.value;
    for (const indexKey of meetingIndexKeys(meeting)) {
      if (await exists(buckets.meetings, indexKey)) continue;
      found("missing-index-key", "meetings", logical(indexKey), `missing for ${meeting.uid}`);
      if (options.repair) await buckets.meetings.put(indexKey, meeting.uid);
    }
    if (!(await exists(buckets.meetingSettings, meeting.uid)) && !isYoung(entry.created)) {
      found(
        "missing-settings",
        "meeting-settings",
        meeting.uid,
        `meeting ${meeting.uid} has no settings`,
      );
      if (options.repair) {
        const stamp = options.now().toISOString();
        const settings = { uid: meeting.uid, organizers: [], created_at: stamp, updated_at: stamp };
        await buckets.meetingSettings.create(meeting.uid, JSON.stringify(settings));
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
      if (options.repair) {
        await modify<StoredMeeting>(buckets.meetings, meeting.uid, (m) => ({
          ...m,
          registrant_count: counted,
        }));
      }
    }
  });

  await walk("meeting-settings", buckets.meetingSettings, async (key) => {
    const settings = await readMarker(buckets.meetingSettings, key);
    if (settings === null || isYoung(settings.created)) return;
    if (!(await exists(buckets.meetings, key))) {
      found("orphan-settings", "meeting-settings", key, `meeting ${key} does not exist`);
      if (options.repair) await buckets.meetingSettings.delete(key);
    }
  });

  // The lifecycle: children of past meetings, gathered per parent for the uid lists below.
  const pastMeetingGone = async (child: { past_meeting_uid: string }) =>
    (await exists(buckets.pastMeetings, child.past_meeting_uid))
      ? null
      : `past meeting ${child.past_meeting_uid} does not exist`;
  const artifactsOf = {
    recording_uids: new Map<string, Set<string>>(),
    transcript_uids: new Map<string, Set<string>>(),
    summary_uids: new Map<string, Set<string>>(),
  };
  const youngArtifactParents = new Set<string>();
  /** Uid-list repairs, started while past meetings are walked. */
  const pendingRepairs: Promise<void>[] = [];
  const artifactBuckets = [
    ["past-meeting-recordings", buckets.recordings, "recording_uids"],
    ["past-meeting-transcripts", buckets.transcripts, "transcript_uids"],
    ["past-meeting-summaries", buckets.summaries, "summary_uids"],
  ] as const;

  await checkEntities<StoredParticipant>({
    bucket: "past-meeting-participants",
    kv: buckets.participants,
    entityKey: (uid) => uid,
    isEntityKey: isDirectKey,
    indexKeys: participantIndexKeys,
    claimKeys: (p) => [participantEmailClaimKey(p.past_meeting_uid, p.email)],
    orphaned: pastMeetingGone,
  });
  for (const [bucket, kv, list] of artifactBuckets) {
    await checkEntities<{ uid: string; past_meeting_uid: string }>({
      bucket,
      kv,
      entityKey: (uid) => uid,
      isEntityKey: isDirectKey,
      indexKeys: artifactIndexKeys,
      claimKeys: () => [],
      orphaned: pastMeetingGone,
      seen: (artifact, young) => {
        const uids = artifactsOf[list].get(artifact.past_meeting_uid) ?? new Set<string>();
        artifactsOf[list].set(artifact.past_meeting_uid, uids.add(artifact.uid));
        if (young) youngArtifactParents.add(artifact.past_meeting_uid);
      },
    });
  }

  await checkEntities<StoredPastMeeting>({
    bucket: "past-meetings",
    kv: buckets.pastMeetings,
    entityKey: (uid) => uid,
    isEntityKey: isDirectKey,
    indexKeys: pastMeetingIndexKeys,
    claimKeys: (p) =>
      p.occurrence_id === undefined
        ? []
        : [pastMeetingStartClaimKey(p.meeting_uid, p.occurrence_id)],
    // History stays: a past meeting outlives its meeting.
    orphaned: () => Promise.resolve(null),
    seen: (pastMeeting, young) => {
      if (young || youngArtifactParents.has(pastMeeting.uid)) return;
      for (const list of ["recording_uids", "transcript_uids", "summary_uids"] as const) {
        const actual = artifactsOf[list].get(pastMeeting.uid) ?? new Set<string>();
        const listed = new Set(pastMeeting[list]);
        const missing = [...actual].filter((uid) => !listed.has(uid));
        const dangling = [...listed].filter((uid) => !actual.has(uid));
        if (missing.length === 0 && dangling.length === 0) continue;
        found(
          "artifact-list",
          "past-meetings",
          pastMeeting.uid,
          `${list}: ${missing.length} missing (${missing.join(", ")}), ${dangling.length} pointing nowhere (${dangling.join(", ")})`,
        );
        if (options.repair) {
          pendingRepairs.push(
            modify<StoredPastMeeting>(buckets.pastMeetings, pastMeeting.uid, (p) => ({
              ...p,
              [list]: [
                ...p[list].filter((uid) => actual.has(uid)),
                ...missing.filter((uid) => !p[list].includes(uid)),
              ],
            })),
          );
        }
      }
    },
  });
  await Promise.all(pendingRepairs);

  return findings;
}

/** Rewrites an entity at its current revision, again if a write raced with it. */
async function modify<T>(kv: KV, key: string, change: (value: T) => T): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await read<T>(kv, key);
    if (current === null) return;
    try {
      await kv.update(key, JSON.stringify(change(current.value)), current.revision);
      return;
    } catch (err) {
      if (!(translateStoreError(err, "", key) instanceof RevisionConflict)) throw err;
    }
  }
}
