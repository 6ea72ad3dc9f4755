// The key codec of docs/CONTRACT.md §6. A logical key is a list of segments (`registrant/{uid}` is
// ["registrant", uid]); each segment becomes one unpadded base64url token and tokens are joined
// with ".". Any string survives as a segment (emails with "/", "+", "." or non-ASCII letters),
// every segment is exactly one NATS subject token, and a prefix of segments is a subject filter.

const SEGMENT_SEPARATOR = ".";

function encodeSegment(segment: string): string {
  if (segment.length === 0) {
    // An empty segment would make an empty subject token, which NATS rejects.
    throw new RangeError("key segments must not be empty");
  }
  if (!segment.isWellFormed()) {
    // A lone surrogate would be encoded as U+FFFD, so two different segments could share a key.
    throw new RangeError("key segments must be well-formed Unicode");
  }
  return Buffer.from(segment, "utf8").toString("base64url");
}

const BASE64URL_TOKEN = /^[A-Za-z0-9_-]+$/;

function decodeSegment(token: string): string {
  const segment = BASE64URL_TOKEN.test(token)
    ? Buffer.from(token, "base64url").toString("utf8")
    : "";
  // Only the canonical encoding of a non-empty segment is a token (Buffer decodes leniently).
  if (segment.length === 0 || encodeSegment(segment) !== token) {
    throw new RangeError(`not a key token: ${token}`);
  }
  return segment;
}

/** Physical KV key for a logical key given as segments. */
export function encodeKey(segments: readonly string[]): string {
  if (segments.length === 0) throw new RangeError("a key needs at least one segment");
  return segments.map(encodeSegment).join(SEGMENT_SEPARATOR);
}

/** Logical segments of a physical key made by `encodeKey`. */
export function decodeKey(physical: string): string[] {
  return physical.split(SEGMENT_SEPARATOR).map(decodeSegment);
}

/**
 * The physical prefix shared by every key that starts with `segments`, including the trailing
 * separator, so that "index/meeting/A" never matches keys of meeting "AB".
 */
export function encodeKeyPrefix(segments: readonly string[]): string {
  return encodeKey(segments) + SEGMENT_SEPARATOR;
}

/** KV subject filter (`kv.keys`, `kv.watch`) for every key under `segments`. */
export function keyFilter(segments: readonly string[]): string {
  return encodeKeyPrefix(segments) + ">";
}

/**
 * A uid as a direct key (docs/CONTRACT.md §6: every bucket but meeting-registrants). Uids are nanoids
 * over the URL-safe alphabet, which is already a single valid subject token; anything else
 * could address another key or inject a wildcard, so it is refused.
 */
const DIRECT_KEY = /^[A-Za-z0-9_-]{1,128}$/;

export function directKey(uid: string): string {
  if (!DIRECT_KEY.test(uid)) throw new RangeError(`not a valid uid key: ${JSON.stringify(uid)}`);
  return uid;
}

export function isDirectKey(physical: string): boolean {
  return DIRECT_KEY.test(physical);
}

/** The last logical segment of a physical key: the uid an index key points to. */
export function lastSegment(physical: string): string {
  return decodeSegment(physical.slice(physical.lastIndexOf(SEGMENT_SEPARATOR) + 1));
}
