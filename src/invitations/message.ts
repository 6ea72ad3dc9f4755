// One invitation email (docs/CONTRACT.md §11): subject, plain-text and HTML bodies, and the
// calendar both inline (a text/calendar alternative with its METHOD, which calendar clients act on)
// and as an attachment (for clients that show only attachments).
import { DateTime } from "luxon";
import type Mail from "nodemailer/lib/mailer/index.js";
import { descriptionOf, renderCalendar, type CalendarInput } from "./calendar.js";
import { firstOccurrence } from "../domain/occurrences.js";

export type InvitationMessage = Mail.Options;

/** The From mailbox as the calendar's ORGANIZER: `Name <address>` or a bare address. */
export function mailboxOf(from: string): { email: string; name?: string } {
  const match = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(from);
  if (match?.[2] === undefined) return { email: from.trim() };
  const name = match[1]?.trim();
  return name === undefined || name === "" ? { email: match[2] } : { email: match[2], name };
}

/**
 * `updated`: the email tells registrants of a change (a new invitation otherwise, also when a
 * registrant joins a meeting that has changed before).
 */
export function composeMessage(
  from: string,
  input: CalendarInput,
  updated = false,
): InvitationMessage {
  const calendar = renderCalendar(input);
  const { meeting, action } = input;
  const when = whenOf(input);
  const subject =
    calendar.method === "REQUEST"
      ? `${updated ? "Updated invitation" : "Invitation"}: ${meeting.title}`
      : action.kind === "cancel-occurrences" || input.occurrence_id !== undefined
        ? `Cancelled: ${meeting.title} (${when})`
        : `Cancelled: ${meeting.title}`;
  const intro =
    calendar.method === "REQUEST"
      ? `You are registered for ${meeting.title}, ${when}.`
      : action.kind === "cancel-occurrences" || input.occurrence_id !== undefined
        ? `${meeting.title} on ${when} is cancelled.`
        : `${meeting.title} is cancelled; it has been removed from your calendar.`;
  const details =
    calendar.method === "REQUEST" ? descriptionOf(meeting.description, meeting.public_link) : "";
  const project = input.project_name === undefined ? "" : `Project: ${input.project_name}`;
  const text = [intro, project, details].filter((part) => part !== "").join("\n\n") + "\n";
  const html =
    `<p>${escapeHtml(intro)}</p>` +
    (project === "" ? "" : `<p>${escapeHtml(project)}</p>`) +
    (details === "" ? "" : `<p>${escapeHtml(details).replaceAll("\n", "<br>")}</p>`);
  const method = calendar.method;
  return {
    from,
    to:
      input.attendee.name === undefined
        ? input.attendee.email
        : { name: input.attendee.name, address: input.attendee.email },
    subject,
    text,
    html,
    icalEvent: { method, filename: "invite.ics", content: calendar.content },
    attachments: [
      {
        filename: method === "REQUEST" ? "invite.ics" : "cancel.ics",
        content: calendar.content,
        contentType: `text/calendar; charset=utf-8; method=${method}`,
      },
    ],
  };
}

/** The meeting's (or the cancelled occurrences') start in its own zone, for the bodies. */
function whenOf(input: CalendarInput): string {
  const { meeting, action } = input;
  const starts =
    action.kind === "cancel-occurrences"
      ? action.occurrence_ids.map((id) => Number(id) * 1000)
      : input.occurrence_id !== undefined
        ? [Number(input.occurrence_id) * 1000]
        : [firstOccurrence(meeting)?.start ?? Date.parse(meeting.start_time)];
  const format = (ms: number) =>
    DateTime.fromMillis(ms, { zone: meeting.timezone }).toFormat("cccc d LLLL yyyy, HH:mm ZZZZ");
  const shown = starts.map(format).join("; ");
  return meeting.recurrence !== undefined &&
    action.kind === "request" &&
    input.occurrence_id === undefined
    ? `first on ${shown}, repeating`
    : shown;
}

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}
