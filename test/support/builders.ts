// Test data builders: valid requests with unique values, overridable per test.
import { randomUUID } from "node:crypto";

export function meetingInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project_uid: randomUUID(),
    title: "Technical Steering Committee",
    start_time: "2030-01-15T15:00:00Z",
    duration: 60,
    timezone: "America/New_York",
    ...overrides,
  };
}

let emailCounter = 0;

/** A unique, valid email address; `local` may carry awkward characters. */
export function uniqueEmail(local = "person"): string {
  emailCounter += 1;
  return `${local}.${Date.now().toString(36)}${emailCounter}@example.org`;
}
