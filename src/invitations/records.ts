// The invitation bookkeeping in the `meeting-service-invitations` bucket (keys encoded per
// docs/CONTRACT.md §6):
//   meeting/{meeting_uid}              what the meeting's registrants were last told (Announcement)
//   sent/{registrant_uid}/{slot}       one email to one registrant (SendRecord); slot is `invite`
//                                      (on registration), `cancel` (series cancelled: registrant
//                                      or meeting deleted) or the sequence of a meeting change
// Both are written only with create-only or revision-checked writes, so several instances that
// handle the same change agree on one sequence and one sender per email.
import { createHash } from "node:crypto";
import { encodeKey } from "../store/kv/keys.js";
import type { CalendarAction, CalendarMeeting } from "./calendar.js";
import { editedOccurrencesOf } from "./calendar.js";

export interface Announcement {
  meeting_uid: string;
  /** SEQUENCE of the latest change announced; 0 until the first change after the first invite. */
  sequence: number;
  /** Revision of the meeting record this announcement was taken from. */
  revision: number;
  /** What the latest sequence told every registrant. */
  action: CalendarAction | { kind: "initial" };
  /** The calendar-relevant fields, hashed (fingerprintOf). */
  fingerprint: string;
  /** The meeting as announced, so later emails (a cancel after the meeting is gone) can render. */
  meeting: CalendarMeeting;
  deleted: boolean;
}

export type SendSlot = "invite" | "cancel" | `${number}`;

export interface SendRecord {
  status: "sending" | "sent" | "failed" | "skipped";
  /** While `sending`: until when its sender is at it; after that, another instance takes over. */
  lease_until: number;
  updated_at: string;
}

export function announcementKey(meetingUid: string): string {
  return encodeKey(["meeting", meetingUid]);
}

export function sendKey(registrantUid: string, slot: SendSlot): string {
  return encodeKey(["sent", registrantUid, slot]);
}

/**
 * What registrants are told about, cancellations aside (those are compared as a set): a change of
 * any of these sends an updated invitation (docs/CONTRACT.md §11: time, recurrence, title,
 * description).
 */
export function fingerprintOf(meeting: CalendarMeeting): string {
  const relevant = {
    title: meeting.title,
    description: meeting.description ?? null,
    start_time: Date.parse(meeting.start_time),
    duration: meeting.duration,
    timezone: meeting.timezone,
    // Sorted: the same rule sent with its fields in another order is no change.
    recurrence:
      meeting.recurrence === undefined
        ? null
        : Object.fromEntries(
            Object.entries(meeting.recurrence).sort(([a], [b]) => a.localeCompare(b)),
          ),
    public_link: meeting.public_link ?? null,
    edited: editedOccurrencesOf(meeting),
  };
  return createHash("sha256").update(JSON.stringify(relevant)).digest("base64url");
}
