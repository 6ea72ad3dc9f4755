// One repository per bucket, built over the opened buckets.
import type { Buckets } from "./buckets.js";
import { MeetingSettingsRepository } from "./meeting-settings.js";
import { MeetingsRepository } from "./meetings.js";

export interface Repositories {
  meetings: MeetingsRepository;
  meetingSettings: MeetingSettingsRepository;
}

export function createRepositories(buckets: Buckets): Repositories {
  return {
    meetings: new MeetingsRepository(buckets.meetings),
    meetingSettings: new MeetingSettingsRepository(buckets.meetingSettings),
  };
}
