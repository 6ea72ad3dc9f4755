// Calendar invitations by email (docs/CONTRACT.md §11), driven by committed changes of meetings and
// registrants (EntityChange, read back from the buckets' streams by the outbox feed): the feed
// calls `handle` in order per entity and at least once; this module makes that exactly one email
// per registrant and change.
//
// How: what a meeting's registrants were last told is one Announcement record (records.ts). A
// meeting change is compared with it by fingerprint (not with a before-image, which a redelivered
// or skipped change would get wrong): a difference bumps the sequence with a revision-checked
// write, which exactly one instance wins, and the winner's change (or a redelivery of it) sends
// the new sequence to every registrant. Each email first claims its own record
// `sent/{registrant}/{slot}` (create-only, with a lease renewed while it retries), so a repeated
// change, a second instance or a restart after a crash mid-send finds what was sent and sends only
// what was not (an instance that dies between the server's acceptance and its record may send one
// email twice: at least once wins over at most once).
import { setTimeout as sleep } from "node:timers/promises";
import {
  editedSeries,
  MAX_EDITED_OCCURRENCES,
  ruleScheduleOf,
} from "../domain/occurrence-edits.js";
import { isOccurrence, MAX_OCCURRENCES_PER_CALL } from "../domain/occurrences.js";
import type { Logger } from "../logger.js";
import type { EntityChange } from "../outbox/change.js";
import { BUCKET_NAMES } from "../store/kv/buckets.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { RevisionConflict, type KvRepository } from "../store/kv/kv-repository.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import { modifyAtRevision } from "../store/kv/modify.js";
import {
  registrantKey,
  registrantsOfMeetingPrefix,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import type { Repositories } from "../store/resources/repositories.js";
import {
  concernsRegistrant,
  type CalendarAction,
  type CalendarMeeting,
  type EditedOccurrence,
} from "./calendar.js";
import type { DeliveryQueue } from "./delivery.js";
import { composeMessage, mailboxOf, type InvitationMessage } from "./message.js";
import {
  announcementKey,
  fingerprintOf,
  sendKey,
  type Announcement,
  type SendRecord,
  type SendSlot,
} from "./records.js";

export interface InvitationsDeps {
  repos: Pick<Repositories, "meetings" | "registrants">;
  announcements: KvRepository<Announcement>;
  sends: KvRepository<SendRecord>;
  queue: DeliveryQueue;
  /** EMAIL_FROM; also the calendar's ORGANIZER. */
  from: string;
  log: Logger;
  now: () => Date;
  /** How often an instance looks again at an email another instance is sending. */
  pollMs?: number;
  /**
   * The project's name for the email's text (PLATFORM_LOOKUPS=on), undefined when unknown; a
   * project service that does not answer leaves it out rather than holding the email back.
   */
  projectName?: (projectUid: string) => Promise<string | undefined>;
}

/** Registrants read at once while a change is sent to every registrant of a meeting. */
const FAN_OUT_PAGE = 500;

export class Invitations {
  private readonly pollMs: number;

  constructor(private readonly deps: InvitationsDeps) {
    this.pollMs = deps.pollMs ?? 250;
  }

  /**
   * Sends what `change` means for registrants, and resolves once every email of it is delivered
   * or has failed for good; it rejects (to be called again) when storage is unavailable.
   */
  async handle(change: EntityChange): Promise<void> {
    if (change.bucket === BUCKET_NAMES.meetings && isMeeting(change.value)) {
      await this.meetingChanged(change, change.value);
    } else if (change.bucket === BUCKET_NAMES.registrants && isRegistrant(change.value)) {
      await this.registrantChanged(change, change.value);
    }
  }

  /**
   * lfx.registrants.resend: the meeting's current invitation to `registrant`, a new email each
   * time. Resolves once it is queued; its delivery goes on in the background.
   */
  async resend(registrant: StoredRegistrant): Promise<void> {
    const announcement = await this.announcementOfCurrent(registrant.meeting_uid);
    if (announcement === null || announcement.deleted) return;
    const message = await this.message(
      announcement,
      registrant,
      { kind: "request" },
      announcement.sequence,
    );
    void this.deps.queue
      .run(async () => {
        if (!(await this.deps.queue.deliver(message)))
          await this.countFailure(registrant.meeting_uid);
      })
      .catch((err: unknown) => this.deps.log.error({ err }, "resent invitation not recorded"));
  }

  // -------------------------------------------------------------------------------------------

  private async meetingChanged(change: EntityChange, meeting: StoredMeeting): Promise<void> {
    const deleted = change.action === "deleted";
    const announcement = await this.announce(meeting, change.revision, deleted);
    // Only the change an announcement was taken from sends it (again, after a crash): any other
    // change of the meeting (a registrant count) told registrants nothing new.
    if (announcement === null || announcement.revision !== change.revision) return;
    if (announcement.action.kind === "initial") return;
    await this.sendToEveryRegistrant(announcement);
  }

  private async registrantChanged(change: EntityChange, registrant: StoredRegistrant) {
    if (change.action === "deleted") {
      await this.cancelFor(registrant);
    } else if (change.action === "created") {
      await this.inviteFor(registrant);
    }
    // An update changes nothing on the calendar; a registrant moved to another email or
    // occurrence is sent the invitation with lfx.registrants.resend.
  }

  /** The invitation on registration, at the sequence of the meeting as it now is. */
  private async inviteFor(registrant: StoredRegistrant): Promise<void> {
    const announcement = await this.announcementOfCurrent(registrant.meeting_uid);
    if (announcement === null || announcement.deleted) return;
    await this.sendOnce(registrant, "invite", async () => {
      // Claimed first, checked after: a concurrent delete either sees this claim (and cancels)
      // or has claimed its cancellation already (and this invitation is not sent).
      if ((await this.deps.sends.get(sendKey(registrant.uid, "cancel"))) !== null) return null;
      // As it now is: an update since the registration may have changed its email.
      const current = await this.deps.repos.registrants.get(registrantKey(registrant.uid));
      if (current === null) return null;
      return this.message(announcement, current.value, { kind: "request" }, announcement.sequence);
    });
  }

  /** The cancellation of the series to a registrant who was invited (deleted, or its meeting). */
  private async cancelFor(registrant: StoredRegistrant, known?: Announcement): Promise<void> {
    const announcement =
      known ??
      (await this.announcementOfCurrent(registrant.meeting_uid)) ??
      (await this.deps.announcements.get(announcementKey(registrant.meeting_uid)))?.value ??
      null;
    if (announcement === null) return;
    const sequence = announcement.deleted ? announcement.sequence : announcement.sequence + 1;
    await this.sendOnce(registrant, "cancel", async () => {
      const invite = await this.deps.sends.get(sendKey(registrant.uid, "invite"));
      if (invite === null || invite.value.status === "skipped") return null;
      return this.message(announcement, registrant, { kind: "cancel-series" }, sequence);
    });
  }

  private async sendToEveryRegistrant(announcement: Announcement): Promise<void> {
    const registrants = this.deps.repos.registrants;
    const deliveries: Promise<void>[] = [];
    const prefix = registrantsOfMeetingPrefix(announcement.meeting_uid);
    for await (const keys of registrants.allKeysUnder(prefix, FAN_OUT_PAGE)) {
      const found = await Promise.all(
        keys.map((key) => registrants.get(registrantKey(lastSegment(key)))),
      );
      for (const entry of found) {
        if (entry === null) continue;
        deliveries.push(this.sendAnnouncement(announcement, entry.value));
      }
    }
    const failed = (await Promise.allSettled(deliveries)).find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  private async sendAnnouncement(announcement: Announcement, registrant: StoredRegistrant) {
    const { action } = announcement;
    if (action.kind === "initial") return;
    if (action.kind === "cancel-series") return this.cancelFor(registrant, announcement);
    if (!concernsRegistrant(action, registrant.occurrence_id)) return;
    const slot = `${announcement.sequence}` as SendSlot;
    await this.sendOnce(registrant, slot, async () => {
      // A newer announcement supersedes this one: it goes to everyone with all of this in it.
      const current = await this.deps.announcements.get(announcementKey(announcement.meeting_uid));
      if (current !== null && current.value.sequence !== announcement.sequence) return null;
      return this.message(announcement, registrant, action, announcement.sequence, true);
    });
  }

  private async message(
    announcement: Announcement,
    registrant: StoredRegistrant,
    action: CalendarAction,
    sequence: number,
    updated = false,
  ): Promise<InvitationMessage> {
    const projectName = await this.projectNameOf(announcement.meeting.project_uid);
    const name = [registrant.first_name, registrant.last_name]
      .filter((n) => n !== undefined && n !== "")
      .join(" ");
    const occurrenceId = registrant.occurrence_id;
    // A registrant of one occurrence that the change moved off the rule is told it is gone.
    const gone =
      occurrenceId !== undefined &&
      action.kind === "request" &&
      !isOccurrence(announcement.meeting, occurrenceId);
    return composeMessage(
      this.deps.from,
      {
        meeting: announcement.meeting,
        sequence,
        action: gone ? { kind: "cancel-occurrences", occurrence_ids: [occurrenceId] } : action,
        organizer: mailboxOf(this.deps.from),
        attendee: { email: registrant.email, ...(name === "" ? {} : { name }) },
        occurrence_id: occurrenceId,
        stamp: this.deps.now(),
        project_name: projectName,
      },
      updated,
    );
  }

  private async projectNameOf(projectUid: string | undefined): Promise<string | undefined> {
    if (projectUid === undefined || this.deps.projectName === undefined) return undefined;
    try {
      return await this.deps.projectName(projectUid);
    } catch (err) {
      this.deps.log.debug({ err, project_uid: projectUid }, "project name not known for an email");
      return undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The announcement: what the meeting's registrants were last told.

  /** The announcement after taking in the meeting as stored now; null when the meeting is gone. */
  private async announcementOfCurrent(meetingUid: string): Promise<Announcement | null> {
    const stored = await this.deps.repos.meetings.get(directKey(meetingUid));
    if (stored === null) return null;
    return this.announce(stored.value, stored.revision, false);
  }

  /**
   * Takes in the meeting at `revision`: a newer meeting whose calendar differs from the last
   * announcement becomes the next sequence (one revision-checked write: one instance wins).
   * Returns the announcement as it then is; null for a deleted meeting never announced.
   */
  private async announce(
    meeting: StoredMeeting,
    revision: number,
    deleted: boolean,
  ): Promise<Announcement | null> {
    const key = announcementKey(meeting.uid);
    const calendar = calendarMeetingOf(meeting);
    for (;;) {
      const current = await this.deps.announcements.get(key);
      if (current === null) {
        if (deleted) return null;
        const first: Announcement = {
          meeting_uid: meeting.uid,
          sequence: 0,
          revision,
          action: { kind: "initial" },
          fingerprint: fingerprintOf(calendar),
          meeting: calendar,
          deleted: false,
        };
        if (await this.wrote(() => this.deps.announcements.create(key, first))) return first;
        continue;
      }
      const last = current.value;
      if (last.deleted || revision <= last.revision) return last;
      const action = deleted ? { kind: "cancel-series" as const } : changeOf(last, calendar);
      if (action === null) return last;
      const next: Announcement = {
        ...last,
        sequence: last.sequence + 1,
        revision,
        action,
        fingerprint: fingerprintOf(calendar),
        meeting: deleted ? last.meeting : calendar,
        deleted,
      };
      if (await this.wrote(() => this.deps.announcements.update(key, next, current.revision))) {
        return next;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // One email, once.

  /**
   * Claims `sent/{registrant}/{slot}`, builds the message (null: nothing to send) and delivers it,
   * all inside a delivery slot, so a lease never runs out while the email waits in the queue.
   */
  private sendOnce(
    registrant: StoredRegistrant,
    slot: SendSlot,
    build: () => Promise<InvitationMessage | null>,
  ): Promise<void> {
    const key = sendKey(registrant.uid, slot);
    return this.deps.queue.run(async () => {
      let revision = await this.claim(key);
      if (revision === null) return;
      const message = await build();
      if (message === null) {
        await this.settle(key, revision, "skipped");
        return;
      }
      const delivered = await this.deps.queue.deliver(message, {
        onProgress: async (busyForMs) => {
          revision = await this.deps.sends.update(
            key,
            this.record("sending", busyForMs),
            revision as number,
          );
        },
      });
      // Marked before it is counted: a crash in between loses a count, never counts twice.
      await this.settle(key, revision, delivered ? "sent" : "failed");
      if (!delivered) await this.countFailure(registrant.meeting_uid);
    });
  }

  /**
   * The revision of this instance's claim on `key`, or null when the email was already sent (or
   * failed or skipped). A claim another instance holds is waited for; one whose lease ran out
   * (its instance died) is taken over.
   */
  private async claim(key: string): Promise<number | null> {
    for (;;) {
      const fresh = this.record("sending", this.deps.queue.attemptBudgetMs);
      try {
        return await this.deps.sends.create(key, fresh);
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
      }
      const current = await this.deps.sends.get(key);
      if (current === null) continue;
      if (current.value.status !== "sending") return null;
      if (current.value.lease_until > Date.now()) {
        await sleep(this.pollMs);
        continue;
      }
      try {
        return await this.deps.sends.update(key, fresh, current.revision);
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
      }
    }
  }

  private async settle(key: string, revision: number, status: SendRecord["status"]) {
    await this.deps.sends.update(key, this.record(status, 0), revision);
  }

  private record(status: SendRecord["status"], leaseMs: number): SendRecord {
    const now = this.deps.now();
    return { status, lease_until: now.getTime() + leaseMs, updated_at: now.toISOString() };
  }

  /** docs/CONTRACT.md §11: each email whose retries ran out counts once in the meeting. */
  private async countFailure(meetingUid: string): Promise<void> {
    await modifyAtRevision(this.deps.repos.meetings, directKey(meetingUid), (meeting) => ({
      ...meeting,
      email_delivery_error_count: (meeting.email_delivery_error_count ?? 0) + 1,
    }));
  }

  /** Runs a conditional write; false when another writer got there first. */
  private async wrote(write: () => Promise<number>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (err instanceof RevisionConflict) return false;
      throw err;
    }
  }
}

/** What a newer meeting tells registrants compared with the last announcement, or null. */
function changeOf(last: Announcement, meeting: CalendarMeeting): CalendarAction | null {
  const before = new Set(last.meeting.cancelled_occurrences ?? []);
  const now = new Set(meeting.cancelled_occurrences ?? []);
  const restored = [...before].some((id) => !now.has(id));
  if (fingerprintOf(meeting) !== last.fingerprint || restored) return { kind: "request" };
  const cancelled = [...now].filter((id) => !before.has(id)).sort();
  return cancelled.length === 0 ? null : { kind: "cancel-occurrences", occurrence_ids: cancelled };
}

function calendarMeetingOf(meeting: StoredMeeting): CalendarMeeting {
  const recurring = meeting.recurrence !== undefined;
  const edited = recurring ? editedOccurrencesOf(meeting) : [];
  return {
    uid: meeting.uid,
    project_uid: meeting.project_uid,
    title: meeting.title,
    ...(meeting.description === undefined ? {} : { description: meeting.description }),
    // The rule's own start: the occurrence ids, and so the RECURRENCE-IDs, are computed from it
    // (an edit from the first occurrence moves `start_time` but not the rule: docs/CONTRACT.md §12).
    start_time: recurring ? ruleScheduleOf(meeting).start_time : meeting.start_time,
    duration: meeting.duration,
    timezone: meeting.timezone,
    ...(meeting.recurrence === undefined ? {} : { recurrence: meeting.recurrence }),
    ...(meeting.public_link === undefined ? {} : { public_link: meeting.public_link }),
    ...(meeting.cancelled_occurrences === undefined
      ? {}
      : { cancelled_occurrences: [...meeting.cancelled_occurrences].sort() }),
    ...(edited.length === 0 ? {} : { edited_occurrences: edited }),
  };
}

/**
 * The occurrences an edit changed (docs/CONTRACT.md §12), each its own VEVENT with RECURRENCE-ID in
 * the calendar (§11). A "this and following" edit of an endless series changes every later
 * occurrence: the calendar then carries the first MAX_EDITED_OCCURRENCES of them
 * (docs/INVITATIONS.md).
 */
function editedOccurrencesOf(meeting: StoredMeeting): EditedOccurrence[] {
  const edits = meeting.occurrence_edits;
  const singles = edits?.single ?? [];
  const fromOnward = (edits?.following ?? []).length > 0;
  if (singles.length === 0 && !fromOnward) return [];
  const lastSingle = Math.max(...singles.map((edit) => Number(edit.occurrence_id)));
  const edited: EditedOccurrence[] = [];
  let scanned = 0;
  for (const occurrence of editedSeries(meeting)) {
    if (!fromOnward && Number(occurrence.occurrence_id) > lastSingle) break;
    if (++scanned > MAX_OCCURRENCES_PER_CALL || edited.length >= MAX_EDITED_OCCURRENCES) break;
    if (!occurrence.is_edited || occurrence.is_cancelled) continue;
    edited.push({
      occurrence_id: occurrence.occurrence_id,
      start_time: occurrence.start_time,
      duration: occurrence.duration,
      title: occurrence.title,
      ...(occurrence.description === undefined ? {} : { description: occurrence.description }),
    });
  }
  return edited;
}

function isMeeting(value: Record<string, unknown>): value is StoredMeeting {
  return (
    typeof value.uid === "string" &&
    typeof value.start_time === "string" &&
    typeof value.timezone === "string"
  );
}

function isRegistrant(value: Record<string, unknown>): value is StoredRegistrant {
  return (
    typeof value.uid === "string" &&
    typeof value.meeting_uid === "string" &&
    typeof value.email === "string"
  );
}
