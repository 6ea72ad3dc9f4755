// The RFC 5545 calendar of one invitation email (docs/CONTRACT.md §11), built with ical-generator:
// one stable UID per meeting, the meeting's SEQUENCE, times with the TZID of the meeting's zone and
// its VTIMEZONE, the recurrence as RRULE (rrule.ts), cancelled occurrences as EXDATE, each edited
// occurrence as a VEVENT of its own with RECURRENCE-ID, ORGANIZER, ATTENDEE with RSVP=TRUE, the
// join link, and a VALARM 10 minutes before. Pure apart from ical-generator: the stamp is passed
// in.
import ical, {
  ICalAlarmType,
  ICalAttendeeRole,
  ICalAttendeeStatus,
  ICalCalendarMethod,
  ICalEventRepeatingFreq,
  ICalEventStatus,
  ICalWeekday,
  type ICalCalendar,
  type ICalEventData,
  type ICalRepeatingOptions,
} from "ical-generator";
import { DateTime } from "luxon";
import { firstOccurrence, isOccurrence, type Schedule } from "../domain/occurrences.js";
import type { Recurrence } from "../generated/schema-types.js";
import { repeatRuleOf } from "./rrule.js";
import { calendarZoneOf } from "./vtimezone.js";

/**
 * What a calendar shows of a meeting: the fields registrants are told about. It is a Schedule
 * (start_time, duration, timezone, recurrence), so the occurrence engine reads it as it is.
 */
export interface CalendarMeeting extends Schedule {
  uid: string;
  /** Named in the email's text when the platform knows the project (docs/CONTRACT.md §10, §11). */
  project_uid?: string | undefined;
  title: string;
  description?: string | undefined;
  public_link?: string | undefined;
  cancelled_occurrences?: string[] | undefined;
  /** Occurrences moved or changed on their own (issue 17); see editedOccurrencesOf. */
  edited_occurrences?: EditedOccurrence[] | undefined;
}

/** One occurrence changed on its own: it keeps its id (its original start) as RECURRENCE-ID. */
export interface EditedOccurrence {
  occurrence_id: string;
  start_time: string;
  duration: number;
  title: string;
  description?: string | undefined;
}

export interface Mailbox {
  email: string;
  name?: string | undefined;
}

/**
 * What the calendar says: the invitation as it now stands, or the cancellation of some
 * occurrences, or of the whole event.
 */
export type CalendarAction =
  | { kind: "request" }
  | { kind: "cancel-occurrences"; occurrence_ids: string[] }
  | { kind: "cancel-series" };

export interface CalendarInput {
  meeting: CalendarMeeting;
  sequence: number;
  action: CalendarAction;
  organizer: Mailbox;
  attendee: Mailbox;
  /** A registrant of one occurrence gets that occurrence alone, as a single event. */
  occurrence_id?: string | undefined;
  stamp: Date;
  /** The project's name, with PLATFORM_LOOKUPS=on and a project service that answered. */
  project_name?: string | undefined;
}

export interface RenderedCalendar {
  method: "REQUEST" | "CANCEL";
  content: string;
}

const MINUTE_MS = 60_000;
const ALARM_SECONDS_BEFORE = 600;
const PRODUCT_ID = { company: "The Linux Foundation", product: "lfx-meeting-service" };

/** The UID of every event of a meeting, for every registrant and every message. */
export function calendarUidOf(meetingUid: string): string {
  return `${meetingUid}@lfx-meeting-service`;
}

/**
 * The calendar for `input`. A registrant of one occurrence whose occurrence is gone (cancelled,
 * or no longer a start of the rule after a change) gets a cancellation of it.
 */
export function renderCalendar(input: CalendarInput): RenderedCalendar {
  const { meeting } = input;
  const zone = calendarZoneOf(meeting.timezone);
  const tzid = zone?.tzid ?? null;
  const calendar = ical({
    prodId: PRODUCT_ID,
    // The VTIMEZONE comes from the events' zone; a calendar-wide name would make ical-generator
    // write DTSTAMP as local time without "Z", which RFC 5545 does not allow.
    timezone: { name: null, generator: (name) => calendarZoneOf(name)?.vtimezone ?? null },
  });
  const at = (epochMs: number) => DateTime.fromMillis(epochMs, { zone: tzid ?? "utc" });
  const common = commonFields(input, tzid);

  if (input.occurrence_id !== undefined) {
    const occurrence = singleOccurrence(meeting, input.occurrence_id);
    const cancelled = input.action.kind !== "request" || occurrence === undefined;
    const start = occurrence?.start ?? Number(input.occurrence_id) * 1000;
    const duration = occurrence?.duration ?? meeting.duration;
    calendar.method(cancelled ? ICalCalendarMethod.CANCEL : ICalCalendarMethod.REQUEST);
    addEvent(calendar, input, {
      ...common,
      ...(occurrence?.title === undefined ? {} : { summary: occurrence.title }),
      start: at(start),
      end: at(start + duration * MINUTE_MS),
      ...(cancelled ? { status: ICalEventStatus.CANCELLED } : {}),
    });
    return { method: cancelled ? "CANCEL" : "REQUEST", content: calendar.toString() };
  }

  const first = firstOccurrence(meeting);
  const firstStart = first?.start ?? Date.parse(meeting.start_time);
  const series = {
    ...common,
    start: at(firstStart),
    end: at(firstStart + meeting.duration * MINUTE_MS),
  };

  switch (input.action.kind) {
    case "request": {
      calendar.method(ICalCalendarMethod.REQUEST);
      const cancelled = (meeting.cancelled_occurrences ?? []).map((id) => at(Number(id) * 1000));
      const repeating =
        meeting.recurrence === undefined
          ? null
          : repeatingOptions(meeting, cancelled, tzid ?? undefined);
      addEvent(calendar, input, { ...series, repeating });
      for (const edited of editedOccurrencesOf(meeting)) {
        const start = Date.parse(edited.start_time);
        addEvent(calendar, input, {
          ...common,
          summary: edited.title,
          description: descriptionOf(edited.description, meeting.public_link),
          recurrenceId: at(Number(edited.occurrence_id) * 1000),
          start: at(start),
          end: at(start + edited.duration * MINUTE_MS),
        });
      }
      return { method: "REQUEST", content: calendar.toString() };
    }
    case "cancel-occurrences": {
      calendar.method(ICalCalendarMethod.CANCEL);
      for (const id of input.action.occurrence_ids) {
        const start = Number(id) * 1000;
        addEvent(calendar, input, {
          ...common,
          recurrenceId: at(start),
          start: at(start),
          end: at(start + meeting.duration * MINUTE_MS),
          status: ICalEventStatus.CANCELLED,
        });
      }
      return { method: "CANCEL", content: calendar.toString() };
    }
    case "cancel-series": {
      calendar.method(ICalCalendarMethod.CANCEL);
      addEvent(calendar, input, { ...series, status: ICalEventStatus.CANCELLED });
      return { method: "CANCEL", content: calendar.toString() };
    }
  }
}

/**
 * Where edited occurrences (issue 17: overrides stored on the meeting) become VEVENTs of their
 * own with RECURRENCE-ID: the invitation's fingerprint and calendar both read them from here.
 */
export function editedOccurrencesOf(meeting: CalendarMeeting): EditedOccurrence[] {
  return meeting.edited_occurrences ?? [];
}

/**
 * Whether `action` concerns a registrant of `occurrenceId` (undefined: of the whole series):
 * the cancellation of other occurrences does not.
 */
export function concernsRegistrant(action: CalendarAction, occurrenceId: string | undefined) {
  return (
    action.kind !== "cancel-occurrences" ||
    occurrenceId === undefined ||
    action.occurrence_ids.includes(occurrenceId)
  );
}

function commonFields(input: CalendarInput, tzid: string | null): Omit<ICalEventData, "start"> {
  const { meeting } = input;
  return {
    id: calendarUidOf(meeting.uid),
    sequence: input.sequence,
    stamp: input.stamp,
    timezone: tzid,
    summary: meeting.title,
    description: descriptionOf(meeting.description, meeting.public_link),
    ...(meeting.public_link === undefined ? {} : { url: meeting.public_link }),
    organizer: {
      email: input.organizer.email,
      name: input.organizer.name ?? input.organizer.email,
    },
  };
}

function addEvent(calendar: ICalCalendar, input: CalendarInput, data: ICalEventData): void {
  const event = calendar.createEvent(data);
  event.createAttendee({
    email: input.attendee.email,
    ...(input.attendee.name === undefined ? {} : { name: input.attendee.name }),
    rsvp: true,
    role: ICalAttendeeRole.REQ,
    status: ICalAttendeeStatus.NEEDSACTION,
  });
  if (input.action.kind === "request") {
    event.createAlarm({
      type: ICalAlarmType.display,
      trigger: ALARM_SECONDS_BEFORE,
      description: data.summary ?? input.meeting.title,
    });
  }
}

export function descriptionOf(description: string | undefined, joinLink: string | undefined) {
  const parts = [description, joinLink === undefined ? undefined : `Join: ${joinLink}`];
  return parts.filter((part) => part !== undefined && part !== "").join("\n\n");
}

function repeatingOptions(
  meeting: CalendarMeeting,
  excluded: DateTime[],
  tzid: string | undefined,
): ICalRepeatingOptions {
  const recurrence = meeting.recurrence as Recurrence;
  const rule = repeatRuleOf(recurrence, meeting.start_time, meeting.timezone);
  return {
    freq: ICalEventRepeatingFreq[rule.freq],
    interval: rule.interval,
    startOfWeek: ICalWeekday.SU,
    ...(rule.byDay === undefined ? {} : { byDay: rule.byDay.map((day) => ICalWeekday[day]) }),
    ...(rule.byMonthDay === undefined ? {} : { byMonthDay: rule.byMonthDay }),
    ...(rule.bySetPos === undefined ? {} : { bySetPos: rule.bySetPos }),
    ...(rule.count === undefined ? {} : { count: rule.count }),
    ...(rule.until === undefined
      ? {}
      : { until: DateTime.fromMillis(rule.until, { zone: "utc" }) }),
    ...(excluded.length === 0
      ? {}
      : { exclude: excluded, ...(tzid === undefined ? {} : { excludeTimezone: tzid }) }),
  };
}

interface SingleOccurrence {
  start: number;
  duration: number;
  title?: string;
}

/** The occurrence `occurrenceId` as it now is, or undefined when it is cancelled or gone. */
function singleOccurrence(
  meeting: CalendarMeeting,
  occurrenceId: string,
): SingleOccurrence | undefined {
  if ((meeting.cancelled_occurrences ?? []).includes(occurrenceId)) return undefined;
  const edited = editedOccurrencesOf(meeting).find((e) => e.occurrence_id === occurrenceId);
  if (edited !== undefined) {
    return { start: Date.parse(edited.start_time), duration: edited.duration, title: edited.title };
  }
  if (!isOccurrence(meeting, occurrenceId)) return undefined;
  return { start: Number(occurrenceId) * 1000, duration: meeting.duration };
}
