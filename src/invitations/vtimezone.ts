// The VTIMEZONE block of a meeting's zone, from timezones-ical-library (built from the IANA
// database), never written by hand. Its TZID may be the zone's canonical name (UTC -> Etc/UTC):
// DTSTART and friends must use that same TZID.
import { tzlib_get_ical_block, tzlib_get_timezones } from "timezones-ical-library";

export interface CalendarZone {
  tzid: string;
  vtimezone: string;
}

const zones = new Map<string, CalendarZone | null>();
let libraryZones: ReadonlySet<string> | undefined;

/** Asked first: the library prints to the console for a zone it does not know. */
function libraryKnows(zone: string): boolean {
  if (libraryZones === undefined) {
    const names = tzlib_get_timezones(false);
    libraryZones = new Set(Array.isArray(names) ? names : []);
  }
  return libraryZones.has(zone);
}

/** The zone's VTIMEZONE and TZID, or null when the library does not know it. */
export function calendarZoneOf(zone: string): CalendarZone | null {
  const known = zones.get(zone);
  if (known !== undefined) return known;
  let found: CalendarZone | null = null;
  try {
    const block = libraryKnows(zone) ? tzlib_get_ical_block(zone, false) : undefined;
    if (Array.isArray(block) && block[0]?.startsWith("BEGIN:VTIMEZONE") === true) {
      const tzid = /^TZID:(.+)$/m.exec(block[0])?.[1]?.trim();
      if (tzid !== undefined) found = { tzid, vtimezone: block[0] };
    }
  } catch {
    found = null;
  }
  zones.set(zone, found);
  return found;
}
