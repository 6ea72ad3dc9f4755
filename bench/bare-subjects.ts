// What the bare responder (bare-responder.ts) and the driver share: its subjects, and its own
// buckets. They have the service's settings but are not the service's buckets, so the service's
// outbox feeds (docs/ARCHITECTURE.md) do not process the bare responder's writes while the bare
// responder is measured.
export const BARE_GET = "bench.bare.meetings.get";
export const BARE_CREATE = "bench.bare.meetings.create";
/**
 * The KV work of `lfx.registrants.list` for one page, on the service's registrants bucket (reads
 * only): one request to the stream, standing in for the one that tells where a page ends
 * (src/store/stream-pages.ts), then a get of each registrant.
 */
export const BARE_LIST_REGISTRANTS = "bench.bare.registrants.list";
export const BARE_BUCKETS = {
  meetings: "bench-bare-meetings",
  meetingSettings: "bench-bare-meeting-settings",
} as const;
