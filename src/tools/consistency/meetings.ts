// Meetings and their settings (`meetings`, `meeting-settings`): each meeting with its index keys
// and its settings, each index key with its meeting, each settings record with its meeting, and
// registrant_count against the registrants counted by their `index/meeting/{meeting_uid}/{uid}`
// keys, a page of meetings at a time (one pass over those keys per page). The count judged is the
// one replies show: the stored fold plus what came after it (handlers/registrant-count.ts), so a
// fold not yet stored is no finding.
import { BUCKET_NAMES } from "../../store/kv/buckets.js";
import { encodeKeyPrefix, isDirectKey } from "../../store/kv/keys.js";
import type { ListedKey } from "../../store/kv/kv-repository.js";
import type { StoredMeetingSettings } from "../../store/resources/meeting-settings.js";
import { meetingIndexKeys, type StoredMeeting } from "../../store/resources/meetings.js";
import { modifyAtRevision } from "../../store/kv/modify.js";
import type { Repositories } from "../../store/resources/repositories.js";
import { exists, ifAbsent, logical, Page, type Check } from "./check.js";
import type { RegistrantFacts } from "./registrants.js";

type MeetingRepos = Pick<Repositories, "meetings" | "meetingSettings" | "registrants">;

export async function checkMeetings(
  check: Check,
  repos: MeetingRepos,
  registrants: RegistrantFacts,
): Promise<void> {
  const page = registrantCountPage(check, repos);
  await check.walk(
    repos.meetings,
    (listed) =>
      isDirectKey(listed.key)
        ? checkMeeting(check, repos, listed, (meeting) => {
            if (!registrants.meetingsInFlight.has(meeting.uid))
              page.parents.set(meeting.uid, meeting);
          })
        : checkMeetingIndexKey(check, repos, listed),
    page,
  );
  await checkSettings(check, repos);
}

/** A meeting: its index keys and settings; a settled one goes on the page for its count. */
async function checkMeeting(
  check: Check,
  repos: MeetingRepos,
  { key, seq }: ListedKey,
  settled: (meeting: StoredMeeting) => void,
): Promise<void> {
  const entry = await repos.meetings.getWritten(key);
  if (entry?.revision !== seq) return;
  const meeting = entry.value;
  for (const indexKey of meetingIndexKeys(meeting)) {
    if (await exists(repos.meetings, indexKey)) continue;
    check.found("missing-index-key", "meetings", logical(indexKey), `missing for ${meeting.uid}`);
    if (check.repair) await check.createIndexKey(repos.meetings, indexKey, meeting.uid);
  }
  const young = check.isYoung(entry.written);
  if (!young && !(await exists(repos.meetingSettings, meeting.uid))) {
    check.found(
      "missing-settings",
      "meeting-settings",
      meeting.uid,
      `meeting ${meeting.uid} has no settings`,
    );
    if (check.repair) {
      const stamp = check.settings.now().toISOString();
      const settings: StoredMeetingSettings = {
        uid: meeting.uid,
        organizers: [],
        created_at: stamp,
        updated_at: stamp,
      };
      await ifAbsent(() => repos.meetingSettings.create(meeting.uid, settings));
    }
  }
  if (!young) settled(meeting);
}

/** A meeting's index key: the meeting it names must have it. */
async function checkMeetingIndexKey(
  check: Check,
  repos: MeetingRepos,
  { key, seq }: ListedKey,
): Promise<void> {
  const marker = await repos.meetings.getMarker(key);
  if (marker?.revision !== seq || check.isYoung(marker.written)) return;
  const meeting = isDirectKey(marker.value) ? await repos.meetings.get(marker.value) : null;
  if (meeting !== null && meetingIndexKeys(meeting.value).includes(key)) return;
  check.found(
    "orphan-index-key",
    "meetings",
    logical(key),
    `meeting ${marker.value} does not match`,
  );
  if (check.repair) await check.removeAt(repos.meetings, key, marker.revision);
}

/** Settings whose meeting is gone. */
async function checkSettings(check: Check, repos: MeetingRepos): Promise<void> {
  await check.walk(repos.meetingSettings, async ({ key, seq }) => {
    const settings = await repos.meetingSettings.getMarker(key);
    if (settings?.revision !== seq || check.isYoung(settings.written)) return;
    if (await exists(repos.meetings, key)) return;
    check.found("orphan-settings", "meeting-settings", key, `meeting ${key} does not exist`);
    if (check.repair) await check.removeAt(repos.meetingSettings, key, settings.revision);
  });
}

/**
 * Meetings by uid, their registrant_count judged against one pass over the registrants' keys
 * under their meetings, as they are (a repair of one of those keys moves the count with it). A
 * count that differs is read as replies read it, the stored fold plus the messages after it; a
 * repair recounts the meeting's keys and stores that count with the sequence it counted to, at
 * the meeting's revision: a registration made meanwhile is counted on from there.
 */
function registrantCountPage(check: Check, repos: MeetingRepos) {
  return new Page<StoredMeeting>(async (page, number) => {
    const counted = new Map<string, number>();
    await check.countChildren(
      repos.registrants,
      encodeKeyPrefix(["index", "meeting"]),
      { parents: BUCKET_NAMES.meetings, page: number },
      page,
      (meetingUid) => counted.set(meetingUid, (counted.get(meetingUid) ?? 0) + 1),
    );
    await Promise.all(
      [...page].map(async ([uid, meeting]) => {
        const actual = counted.get(uid) ?? 0;
        if (meeting.registrant_count === actual) return;
        const shown = await repos.registrants.countOfMeeting(meeting);
        if (shown.count === actual) return;
        check.found(
          "registrant-count",
          BUCKET_NAMES.meetings,
          uid,
          `registrant_count is ${shown.count}, registrants ${actual}`,
        );
        if (!check.repair) return;
        const recounted = await repos.registrants.recountOfMeeting(uid);
        await modifyAtRevision(repos.meetings, uid, (m) => ({
          ...m,
          registrant_count: recounted.count,
          registrant_count_seq: recounted.seq,
        }));
      }),
    );
  });
}
