// Edited occurrences (docs/CONTRACT.md §12): a meeting's occurrences with the edits of
// lfx.occurrences.update applied on top of the recurrence rule. Pure: "now" is a parameter. The
// edits are stored with the meeting (`occurrence_edits`); docs/RECURRENCE.md "Edited occurrences"
// describes the layers and the choices made.
//
// Layers, each on top of the one before:
//   1. the rule, computed from `origin_start_time` (the series' first start before an edit from
//      the first occurrence moved `start_time`), so every occurrence keeps its `occurrence_id`;
//   2. `following` edits (scope this_and_following): from an occurrence on, a move by local wall
//      clock (`shift_seconds`, which adds up over edits) and new duration, title, description;
//   3. `single` edits: one occurrence's offset from its place in the series (`offset_seconds`,
//      real seconds) and its own duration, title, description.
// The edited starts keep the rule's order (an edit that would break it is a 400), so start order
// is occurrence_id order and a list can page by id.
import { invalidField, notFound } from "../errors.js";
import {
  firstOccurrence,
  instantOfWallClock,
  isOccurrence,
  lastOccurrence,
  occurrenceBefore,
  occurrencesBetween,
  wallClockOf,
  type OccurrenceTime,
  type Schedule,
} from "./occurrences.js";
import { toUtc, utcTimestamp } from "./timestamps.js";

/**
 * docs/CONTRACT.md §12 leaves the bound open: at most this many edits (single + following) a
 * meeting.
 */
export const MAX_EDITED_OCCURRENCES = 500;

/** How many rule occurrences one listing examines at most (a series moved far from its rule). */
const MAX_SCAN = 20_000;
const SCAN_BATCH = 200;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

export interface FieldEdits {
  duration?: number;
  title?: string;
  description?: string;
}

/** An edit of an occurrence and every later one. */
export interface FollowingEdit extends FieldEdits {
  /** The occurrence_id it starts from. */
  from: string;
  /** Local wall-clock seconds every occurrence from `from` on moves by (on top of earlier ones). */
  shift_seconds?: number;
}

/** An edit of one occurrence. */
export interface SingleEdit extends FieldEdits {
  occurrence_id: string;
  /** Seconds between its place in the series (layers 1-2) and its start. */
  offset_seconds?: number;
}

/** What a meeting stores of its edited occurrences (the `occurrence_edits` field). */
export interface OccurrenceEdits {
  /** The start_time the rule is computed from, when an edit moved `start_time` (absent: it). */
  origin_start_time?: string;
  /** Sorted by `from` (numerically). */
  following?: FollowingEdit[];
  /** Sorted by `occurrence_id` (numerically). */
  single?: SingleEdit[];
}

/** The fields of a meeting its occurrences are made of. */
export interface EditableMeeting extends Schedule {
  title: string;
  description?: string;
  cancelled_occurrences?: string[];
  occurrence_edits?: OccurrenceEdits;
}

/** One occurrence as shown: the rule's occurrence with every edit applied. */
export interface EditedOccurrence extends OccurrenceTime {
  duration: number;
  title: string;
  description?: string;
  is_cancelled: boolean;
  /** Whether an edit changed its start, duration, title or description. */
  is_edited: boolean;
}

export interface EditedQuery {
  /** Epoch ms, inclusive, on the edited start; default: the series' first. */
  from?: number | undefined;
  /** Epoch ms, exclusive, on the edited start. */
  to?: number | undefined;
  /** Only occurrences whose id comes after this one (a page's cursor). */
  afterId?: string | undefined;
  limit: number;
  /** Leave out cancelled occurrences (they do not count toward `limit`). */
  skipCancelled?: boolean;
}

export interface OccurrenceChange extends FieldEdits {
  occurrence_id: string;
  scope: "single" | "this_and_following";
  start_time?: string;
}

/** The schedule the rule is computed from: every occurrence_id comes from it. */
export function ruleScheduleOf(meeting: EditableMeeting): Schedule {
  return {
    start_time: meeting.occurrence_edits?.origin_start_time ?? meeting.start_time,
    duration: meeting.duration,
    timezone: meeting.timezone,
    recurrence: meeting.recurrence,
  };
}

/** The occurrence `occurrenceId` with its edits, or undefined when it is not one of the meeting's. */
export function editedOccurrenceOf(
  meeting: EditableMeeting,
  occurrenceId: string,
): EditedOccurrence | undefined {
  const layers = layersOf(meeting);
  if (!isOccurrence(layers.rule, occurrenceId)) return undefined;
  return editOf(layers, timeOfId(occurrenceId));
}

/** Edited occurrences whose edited start is in [from, to), in start order. */
export function editedOccurrencesBetween(
  meeting: EditableMeeting,
  query: EditedQuery,
): EditedOccurrence[] {
  return scanEdited(layersOf(meeting), query, () => true);
}

/** The occurrences that have not ended at `now` (edited start + edited duration after now). */
export function editedOccurrencesNotEnded(
  meeting: EditableMeeting,
  now: number,
  options: { limit: number; skipCancelled?: boolean },
): EditedOccurrence[] {
  const layers = layersOf(meeting);
  const from = Math.floor(now) - layers.maxDuration * MINUTE_MS + 1;
  return scanEdited(
    layers,
    { ...options, from },
    (edited) => edited.start + edited.duration * MINUTE_MS > now,
  );
}

/**
 * The occurrence whose edited start is nearest to `instant`; on a tie the earlier one. Cancelled
 * occurrences count (a meeting may take place although it was cancelled).
 */
export function nearestEditedOccurrence(
  meeting: EditableMeeting,
  instant: number,
): EditedOccurrence | undefined {
  const layers = layersOf(meeting);
  const after = scanEdited(layers, { from: instant, limit: 1 }, () => true)[0];
  // Edited starts keep the rule's order: the one before `after` in the rule starts before instant.
  const previous =
    after === undefined
      ? lastOccurrence(layers.rule)
      : occurrenceBefore(layers.rule, originalStart(after));
  const before = previous === undefined ? undefined : editOf(layers, previous);
  if (before === undefined) return after;
  if (after === undefined || instant - before.start <= after.start - instant) return before;
  return after;
}

/**
 * `series_end_date` with the edits: the end of the last occurrence, RFC 3339 UTC; undefined for an
 * endless series and a rule with no occurrence.
 */
export function editedSeriesEndDate(meeting: EditableMeeting): string | undefined {
  const layers = layersOf(meeting);
  const last = lastOccurrence(layers.rule);
  if (last === undefined) return undefined;
  const edited = editOf(layers, last);
  return new Date(edited.start + edited.duration * MINUTE_MS).toISOString();
}

/**
 * Every occurrence of the series in order, cancelled ones included (flagged), with its edits:
 * what an invitation needs for its RRULE, EXDATE and RECURRENCE-ID events (docs/CONTRACT.md §11).
 * An endless series never ends: the caller bounds it.
 */
export function* editedSeries(meeting: EditableMeeting): Generator<EditedOccurrence> {
  const layers = layersOf(meeting);
  let from: number | undefined;
  for (;;) {
    const batch = occurrencesBetween(layers.rule, { from, limit: SCAN_BATCH });
    for (const time of batch) yield editOf(layers, time);
    const last = batch.at(-1);
    if (last === undefined) return;
    from = last.start + 1;
  }
}

/**
 * The meeting after lfx.occurrences.update (docs/CONTRACT.md §12), at `now` (epoch ms). Throws a
 * 404 for an occurrence that is not one or is cancelled, and a 400 naming the field for a start in
 * the past, a start that leaves the occurrence's place between its neighbours, and an edit past
 * MAX_EDITED_OCCURRENCES. Fields not given stay as they are.
 */
export function applyOccurrenceEdit<M extends EditableMeeting>(
  meeting: M,
  change: OccurrenceChange,
  now: number,
): M {
  const layers = layersOf(meeting);
  const id = change.occurrence_id;
  if (!isOccurrence(layers.rule, id) || layers.cancelled.has(id)) throw notFound("occurrence", id);
  const time = timeOfId(id);
  const current = editOf(layers, time);
  const newStart = change.start_time === undefined ? undefined : parseStart(change.start_time);
  // Both scopes keep the occurrence before the next one as it stands now: "this and following"
  // changes a slot, it does not jump past the next meeting (the later ones move along anyway).
  if (newStart !== undefined) checkBeforeNext(layers, time, newStart);
  const fields = fieldsOf(change);
  const following = (meeting.occurrence_edits?.following ?? []).map((edit) => ({ ...edit }));
  const single = new Map(
    (meeting.occurrence_edits?.single ?? []).map((edit) => [edit.occurrence_id, { ...edit }]),
  );
  const next: M = { ...meeting };
  const isFirst = firstOccurrence(layers.rule)?.occurrence_id === id;

  if (change.scope === "single") {
    const edit: SingleEdit = { ...(single.get(id) ?? { occurrence_id: id }), ...fields };
    if (newStart !== undefined)
      edit.offset_seconds = (newStart - seriesPosition(layers, time)) / 1000;
    single.set(id, edit);
  } else {
    // What this edit sets no longer comes from later layers: it changes every later occurrence,
    // except what single edits of later occurrences set (they stay on top), and its own.
    for (const edit of following) {
      if (Number(edit.from) >= Number(id)) clearFields(edit, fields);
    }
    const own = single.get(id);
    if (own !== undefined) clearFields(own, fields);
    let edit = following.find((candidate) => candidate.from === id);
    if (edit === undefined) {
      edit = { from: id };
      following.push(edit);
    }
    if (newStart !== undefined) {
      const shift =
        (wallClockOf(newStart, layers.zone) - wallClockOf(current.start, layers.zone)) / 1000;
      edit.shift_seconds = (edit.shift_seconds ?? 0) + shift;
    }
    if (isFirst) {
      // From the first occurrence the edit changes the series itself (docs/CONTRACT.md §12).
      if (fields.title !== undefined) next.title = fields.title;
      if (fields.duration !== undefined) next.duration = fields.duration;
      if (fields.description !== undefined) next.description = fields.description;
    } else {
      Object.assign(edit, fields);
    }
  }

  let edited = withEdits(next, meeting.occurrence_edits?.origin_start_time, following, single);
  if (change.scope === "this_and_following" && newStart !== undefined) {
    // The wall clock may show the requested start twice (a fall-back night) and the series then
    // lands on the earlier one; the occurrence itself still starts exactly where it was asked to.
    const position = seriesPosition(layersOf(edited), time);
    if (position !== newStart) {
      single.set(id, { ...(single.get(id) ?? { occurrence_id: id }), offset_seconds: 0 });
    }
    const own = single.get(id);
    if (own !== undefined) own.offset_seconds = (newStart - position) / 1000;
    if (isFirst) {
      next.start_time = utcTimestamp(newStart);
      const origin = meeting.occurrence_edits?.origin_start_time ?? meeting.start_time;
      edited = withEdits(next, origin, following, single);
    } else {
      edited = withEdits(next, meeting.occurrence_edits?.origin_start_time, following, single);
    }
  }

  const count =
    (edited.occurrence_edits?.following?.length ?? 0) +
    (edited.occurrence_edits?.single?.length ?? 0);
  if (count > MAX_EDITED_OCCURRENCES) {
    throw invalidField(
      "/occurrence_id",
      `would be one edited occurrence too many: a meeting keeps at most ${MAX_EDITED_OCCURRENCES} edits`,
    );
  }
  if (newStart !== undefined) {
    if (newStart < now) throw invalidField("/start_time", "is in the past");
    const after = layersOf(edited);
    const moved =
      change.scope === "single"
        ? [id]
        : [
            id,
            ...(edited.occurrence_edits?.following ?? []).map((edit) => edit.from),
            ...(edited.occurrence_edits?.single ?? []).map((edit) => edit.occurrence_id),
          ].filter((candidate) => Number(candidate) >= Number(id));
    for (const candidate of new Set(moved))
      checkPlace(after, candidate, candidate === id ? undefined : candidate);
  }
  return edited;
}

// ---------------------------------------------------------------------------------------------

interface Layers {
  rule: Schedule;
  zone: string;
  base: { duration: number; title: string; description?: string };
  following: readonly FollowingEdit[];
  single: ReadonlyMap<string, SingleEdit>;
  cancelled: ReadonlySet<string>;
  /** How far (ms) an edited start can be after its rule start, at most. */
  maxAheadMs: number;
  /** The longest duration of any occurrence. */
  maxDuration: number;
  edited: boolean;
}

function layersOf(meeting: EditableMeeting): Layers {
  const following = [...(meeting.occurrence_edits?.following ?? [])].sort(
    (a, b) => Number(a.from) - Number(b.from),
  );
  const single = new Map(
    (meeting.occurrence_edits?.single ?? []).map((edit) => [edit.occurrence_id, edit]),
  );
  let shift = 0;
  let maxShift = 0;
  let maxDuration = meeting.duration;
  for (const edit of following) {
    shift += edit.shift_seconds ?? 0;
    maxShift = Math.max(maxShift, shift);
    maxDuration = Math.max(maxDuration, edit.duration ?? 0);
  }
  let maxOffset = 0;
  for (const edit of single.values()) {
    maxOffset = Math.max(maxOffset, edit.offset_seconds ?? 0);
    maxDuration = Math.max(maxDuration, edit.duration ?? 0);
  }
  return {
    rule: ruleScheduleOf(meeting),
    zone: meeting.timezone,
    base: {
      duration: meeting.duration,
      title: meeting.title,
      ...(meeting.description === undefined ? {} : { description: meeting.description }),
    },
    following,
    single,
    cancelled: new Set(meeting.cancelled_occurrences ?? []),
    // A wall-clock move and the instant it gives differ by a DST change, never a day.
    maxAheadMs: (maxShift + maxOffset) * 1000 + DAY_MS,
    maxDuration,
    edited: following.length > 0 || single.size > 0,
  };
}

/** Where the occurrence stands in the series: its rule start moved by the following edits. */
function seriesPosition(layers: Layers, time: OccurrenceTime): number {
  let shift = 0;
  for (const edit of layers.following) {
    if (Number(edit.from) > Number(time.occurrence_id)) break;
    shift += edit.shift_seconds ?? 0;
  }
  if (shift === 0) return time.start;
  return instantOfWallClock(wallClockOf(time.start, layers.zone) + shift * 1000, layers.zone);
}

function editOf(layers: Layers, time: OccurrenceTime): EditedOccurrence {
  const id = time.occurrence_id;
  const fields: FieldEdits = { ...layers.base };
  let edited = false;
  for (const edit of layers.following) {
    if (Number(edit.from) > Number(id)) break;
    edited = assignFields(fields, edit) || edited;
  }
  const single = layers.single.get(id);
  if (single !== undefined) edited = assignFields(fields, single) || edited;
  const start = seriesPosition(layers, time) + (single?.offset_seconds ?? 0) * 1000;
  return {
    occurrence_id: id,
    start,
    start_time: new Date(start).toISOString(),
    duration: fields.duration ?? layers.base.duration,
    title: fields.title ?? layers.base.title,
    ...(fields.description === undefined ? {} : { description: fields.description }),
    is_cancelled: layers.cancelled.has(id),
    is_edited: edited || start !== time.start,
  };
}

/** Copies the fields `edit` sets; whether it set any. */
function assignFields(fields: FieldEdits, edit: FieldEdits): boolean {
  const set = fieldsOf(edit);
  Object.assign(fields, set);
  return Object.keys(set).length > 0;
}

function fieldsOf(edit: FieldEdits): FieldEdits {
  return {
    ...(edit.duration === undefined ? {} : { duration: edit.duration }),
    ...(edit.title === undefined ? {} : { title: edit.title }),
    ...(edit.description === undefined ? {} : { description: edit.description }),
  };
}

function clearFields(edit: FieldEdits, set: FieldEdits): void {
  if (set.duration !== undefined) delete edit.duration;
  if (set.title !== undefined) delete edit.title;
  if (set.description !== undefined) delete edit.description;
}

/** The scan behind every listing: rule occurrences from far enough back, edited, filtered. */
function scanEdited(
  layers: Layers,
  query: EditedQuery,
  keep: (edited: EditedOccurrence) => boolean,
): EditedOccurrence[] {
  const limit = Math.max(0, Math.floor(query.limit));
  const found: EditedOccurrence[] = [];
  if (limit === 0) return found;
  const afterStart = query.afterId === undefined ? -Infinity : Number(query.afterId) * 1000 + 1;
  const ahead = layers.edited ? layers.maxAheadMs : 0;
  let from: number | undefined = Math.max(
    query.from === undefined ? -Infinity : query.from - ahead,
    afterStart,
  );
  if (from === -Infinity) from = undefined;
  for (let scanned = 0; scanned < MAX_SCAN;) {
    const batch = occurrencesBetween(layers.rule, {
      from,
      limit: Math.min(SCAN_BATCH, limit - found.length + layers.cancelled.size + 2),
    });
    for (const time of batch) {
      scanned += 1;
      const edited = editOf(layers, time);
      if (query.to !== undefined && edited.start >= query.to) return found;
      if (query.from !== undefined && edited.start < query.from) continue;
      if (query.skipCancelled === true && edited.is_cancelled) continue;
      if (!keep(edited)) continue;
      found.push(edited);
      if (found.length >= limit) return found;
    }
    const last = batch.at(-1);
    if (last === undefined) return found;
    from = last.start + 1;
  }
  return found;
}

/**
 * The occurrence must stay strictly between its neighbours in the rule (cancelled ones included),
 * so that start order stays occurrence_id order (docs/CONTRACT.md §12: a move before the previous
 * or after the next occurrence is a 400).
 */
function checkPlace(layers: Layers, id: string, other: string | undefined): void {
  const time = timeOfId(id);
  const start = editOf(layers, time).start;
  const subject = other === undefined ? "" : ` (it moves occurrence ${other})`;
  const previous = occurrenceBefore(layers.rule, time.start);
  if (previous !== undefined) {
    const previousStart = editOf(layers, previous).start;
    if (previousStart >= start) {
      throw invalidField(
        "/start_time",
        `must be after the previous occurrence ${previous.occurrence_id} at ${new Date(previousStart).toISOString()}${subject}`,
      );
    }
  }
  const following = occurrencesBetween(layers.rule, { from: time.start + 1, limit: 1 })[0];
  if (following !== undefined) {
    const nextStart = editOf(layers, following).start;
    if (nextStart <= start) {
      throw invalidField(
        "/start_time",
        `must be before the next occurrence ${following.occurrence_id} at ${new Date(nextStart).toISOString()}${subject}`,
      );
    }
  }
}

function checkBeforeNext(layers: Layers, time: OccurrenceTime, newStart: number): void {
  const following = occurrencesBetween(layers.rule, { from: time.start + 1, limit: 1 })[0];
  if (following === undefined) return;
  const nextStart = editOf(layers, following).start;
  if (newStart >= nextStart) {
    throw invalidField(
      "/start_time",
      `must be before the next occurrence ${following.occurrence_id} at ${new Date(nextStart).toISOString()}`,
    );
  }
}

/** The meeting with its edits normalised: empty edits dropped, sorted, no empty field. */
function withEdits<M extends EditableMeeting>(
  meeting: M,
  origin: string | undefined,
  following: readonly FollowingEdit[],
  single: ReadonlyMap<string, SingleEdit>,
): M {
  const keptFollowing = following
    .filter((edit) => (edit.shift_seconds ?? 0) !== 0 || Object.keys(fieldsOf(edit)).length > 0)
    .map((edit) => {
      const { shift_seconds: shift, ...rest } = edit;
      return shift === undefined || shift === 0 ? rest : { ...rest, shift_seconds: shift };
    })
    .sort((a, b) => Number(a.from) - Number(b.from));
  const keptSingle = [...single.values()]
    .filter((edit) => (edit.offset_seconds ?? 0) !== 0 || Object.keys(fieldsOf(edit)).length > 0)
    .map((edit) => {
      const { offset_seconds: offset, ...rest } = edit;
      return offset === undefined || offset === 0 ? rest : { ...rest, offset_seconds: offset };
    })
    .sort((a, b) => Number(a.occurrence_id) - Number(b.occurrence_id));
  const result: M = { ...meeting };
  delete result.occurrence_edits;
  const edits: OccurrenceEdits = {
    ...(origin === undefined || origin === meeting.start_time ? {} : { origin_start_time: origin }),
    ...(keptFollowing.length === 0 ? {} : { following: keptFollowing }),
    ...(keptSingle.length === 0 ? {} : { single: keptSingle }),
  };
  if (Object.keys(edits).length > 0) result.occurrence_edits = edits;
  return result;
}

function parseStart(text: string): number {
  const instant = Date.parse(toUtc(text));
  if (Number.isNaN(instant))
    throw invalidField("/start_time", "is not a date-time this service can read");
  // Occurrences start on whole seconds (docs/RECURRENCE.md).
  return Math.floor(instant / 1000) * 1000;
}

function timeOfId(occurrenceId: string): OccurrenceTime {
  const start = Number(occurrenceId) * 1000;
  return { occurrence_id: occurrenceId, start, start_time: new Date(start).toISOString() };
}

function originalStart(occurrence: OccurrenceTime): number {
  return Number(occurrence.occurrence_id) * 1000;
}
