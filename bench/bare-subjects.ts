// Subjects of the bare responder (bare-responder.ts), shared with the driver.
export const BARE_GET = "bench.bare.meetings.get";
export const BARE_CREATE = "bench.bare.meetings.create";
