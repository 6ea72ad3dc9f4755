// The pure lifecycle rules (src/domain/past-meeting.ts, sessions.ts, artifacts.ts, attendance.ts):
// occurrence of a start, snapshot, sessions, artifact totals, timestamps.
import fc from "fast-check";
import { artifactTotals } from "../../src/domain/artifacts.js";
import { registrationCovers } from "../../src/domain/attendance.js";
import {
  checkScheduledTimes,
  meetingSnapshot,
  occurrenceOfStart,
} from "../../src/domain/past-meeting.js";
import {
  closeAttendance,
  closeMeetingSession,
  openAttendance,
  openMeetingSession,
} from "../../src/domain/sessions.js";
import { AppError } from "../../src/errors.js";
import type { Meeting } from "../../src/generated/schema-types.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const daily = {
  title: "Daily",
  start_time: "2030-01-15T15:00:00Z",
  duration: 45,
  timezone: "UTC",
  recurrence: { type: 1 as const, repeat_interval: 1, end_times: 10 },
};
const firstStart = Date.UTC(2030, 0, 15, 15);
const idOf = (k: number) => String((firstStart + k * DAY_MS) / 1000);

function pathOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.details?.[0]?.path;
    throw err;
  }
  return undefined;
}

describe("occurrenceOfStart", () => {
  it("gives a one-off meeting's only occurrence with its scheduled end", () => {
    const oneOff = {
      title: "Once",
      start_time: "2030-01-15T15:00:00Z",
      duration: 60,
      timezone: "Europe/Berlin",
    };
    expect(occurrenceOfStart(oneOff, undefined, Date.parse("2030-03-01T00:00:00Z"))).toEqual({
      occurrence_id: String(firstStart / 1000),
      scheduled_start_time: "2030-01-15T15:00:00Z",
      scheduled_end_time: "2030-01-15T16:00:00Z",
    });
  });

  it("takes the nearest occurrence, the earlier on a tie", () => {
    const at = (ms: number) => occurrenceOfStart(daily, undefined, ms)?.occurrence_id;
    expect(at(firstStart + 2 * DAY_MS + HOUR_MS)).toBe(idOf(2));
    expect(at(firstStart + 2 * DAY_MS + 12 * HOUR_MS)).toBe(idOf(2));
    expect(at(firstStart + 2 * DAY_MS + 12 * HOUR_MS + 1)).toBe(idOf(3));
    expect(at(firstStart - 100 * DAY_MS)).toBe(idOf(0));
    expect(at(firstStart + 100 * DAY_MS)).toBe(idOf(9));
  });

  it("is always the occurrence no farther from the start than any other", () => {
    fc.assert(
      fc.property(fc.integer({ min: -3 * DAY_MS, max: 13 * DAY_MS }), (offset) => {
        const instant = firstStart + offset;
        const found = occurrenceOfStart(daily, undefined, instant);
        const distance = Math.abs(Number(found?.occurrence_id) * 1000 - instant);
        for (let k = 0; k < 10; k++) {
          expect(distance).toBeLessThanOrEqual(Math.abs(firstStart + k * DAY_MS - instant));
        }
      }),
    );
  });

  it("accepts an occurrence_id of the meeting only", () => {
    expect(occurrenceOfStart(daily, idOf(4), 0)).toEqual({
      occurrence_id: idOf(4),
      scheduled_start_time: "2030-01-19T15:00:00Z",
      scheduled_end_time: "2030-01-19T15:45:00Z",
    });
    expect(occurrenceOfStart(daily, idOf(10), 0)).toBeUndefined();
    expect(occurrenceOfStart(daily, String(Number(idOf(4)) + 1), 0)).toBeUndefined();
    expect(occurrenceOfStart(daily, "0", 0)).toBeUndefined();
  });
});

describe("meetingSnapshot", () => {
  it("copies the descriptive fields present and nothing else", () => {
    const meeting = {
      uid: "m",
      project_uid: "p",
      title: "T",
      start_time: "2030-01-15T15:00:00Z",
      duration: 30,
      timezone: "UTC",
      platform: "Zoom",
      early_join_time_minutes: 10,
      registrant_count: 3,
      zoom_config: { meeting_id: "1" },
      public_link: "https://x.example/m",
      created_at: "2030-01-01T00:00:00Z",
      updated_at: "2030-01-01T00:00:00Z",
    } as Omit<Meeting, "occurrences" | "revision">;
    const snapshot = meetingSnapshot(meeting);
    expect(snapshot).toEqual({
      title: "T",
      duration: 30,
      timezone: "UTC",
      platform: "Zoom",
      early_join_time_minutes: 10,
      zoom_config: { meeting_id: "1" },
      public_link: "https://x.example/m",
    });
    expect(snapshot.zoom_config).not.toBe(meeting.zoom_config);
  });
});

describe("sessions", () => {
  it("opens a meeting session unless one is open, and closes the open one", () => {
    const opened = openMeetingSession([], "s1", "2030-01-15T15:00:00Z");
    expect(opened).toEqual([{ uid: "s1", start_time: "2030-01-15T15:00:00Z" }]);
    expect(openMeetingSession(opened!, "s2", "2030-01-15T15:10:00Z")).toBeNull();
    const closed = closeMeetingSession(opened!, "2030-01-15T16:00:00Z");
    expect(closed).toEqual([
      { uid: "s1", start_time: "2030-01-15T15:00:00Z", end_time: "2030-01-15T16:00:00Z" },
    ]);
    expect(closeMeetingSession(closed!, "2030-01-15T17:00:00Z")).toBeNull();
    expect(openMeetingSession(closed!, "s2", "2030-01-15T17:00:00Z")).toHaveLength(2);
    expect(pathOf(() => closeMeetingSession(opened!, "2030-01-15T14:00:00Z"))).toBe("/ended_at");
    // An end at the very start is allowed (a zero-length session).
    expect(closeMeetingSession(opened!, "2030-01-15T15:00:00Z")).not.toBeNull();
  });

  it("opens and closes attendance the same way, with the leave reason", () => {
    const opened = openAttendance([], "a1", "2030-01-15T15:00:00Z");
    expect(openAttendance(opened!, "a2", "2030-01-15T15:01:00Z")).toBeNull();
    expect(closeAttendance(opened!, "2030-01-15T15:30:00Z", "dropped")).toEqual([
      {
        uid: "a1",
        join_time: "2030-01-15T15:00:00Z",
        leave_time: "2030-01-15T15:30:00Z",
        leave_reason: "dropped",
      },
    ]);
    expect(closeAttendance([], "2030-01-15T15:30:00Z", undefined)).toBeNull();
    expect(pathOf(() => closeAttendance(opened!, "2030-01-15T14:00:00Z", undefined))).toBe(
      "/left_at",
    );
  });
});

describe("artifacts and registrations", () => {
  it("totals file sizes, counting a missing size as 0", () => {
    expect(artifactTotals([])).toEqual({ size: 0, count: 0 });
    expect(artifactTotals([{ file_size: 5 }, {}, { file_size: 7 }])).toEqual({
      size: 12,
      count: 3,
    });
  });

  it("covers an occurrence for a registration of it or of every occurrence", () => {
    expect(registrationCovers({}, "1")).toBe(true);
    expect(registrationCovers({ occurrence_id: "1" }, "1")).toBe(true);
    expect(registrationCovers({ occurrence_id: "2" }, "1")).toBe(false);
    expect(registrationCovers({ occurrence_id: "2" }, undefined)).toBe(false);
  });

  it("refuses a scheduled end before the scheduled start", () => {
    const times = (start: string, end: string) => () =>
      checkScheduledTimes({ scheduled_start_time: start, scheduled_end_time: end });
    expect(pathOf(times("2030-01-15T15:00:00Z", "2030-01-15T14:00:00Z"))).toBe(
      "/scheduled_end_time",
    );
    expect(pathOf(times("2030-01-15T15:00:00Z", "2030-01-15T15:00:00Z"))).toBeUndefined();
  });
});
