// The `meeting-settings` bucket: one record per meeting, under the meeting's uid (docs/CONTRACT.md §5).
import type { MeetingSettings } from "../../generated/schema-types.js";
import type { Bucket } from "../kv/buckets.js";
import { KvRepository } from "../kv/kv-repository.js";

export type StoredMeetingSettings = Omit<MeetingSettings, "revision">;

export class MeetingSettingsRepository extends KvRepository<StoredMeetingSettings> {
  constructor(bucket: Bucket) {
    super(bucket, true);
  }
}
