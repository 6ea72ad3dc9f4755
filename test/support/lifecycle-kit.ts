// Shared by the lifecycle integration tests (past meetings, participants, artifacts): reply types,
// entity-schema checks of success replies, and builders for meetings and starts.
import type { NatsConnection } from "@nats-io/transport-node";
import { loadEntitySchemas, type CompiledSchema } from "../../src/rpc/schemas.js";
import { meetingInput } from "./builders.js";
import { listAllPages, ok, request, type Page, type Reply } from "./request.js";

export type { Page };

export interface Entity {
  uid: string;
  revision: number;
  created_at: string;
  updated_at: string;
}
export interface Meeting extends Entity {
  project_uid: string;
  title: string;
  [field: string]: unknown;
}
export interface PastMeeting extends Entity {
  meeting_uid: string;
  project_uid: string;
  occurrence_id?: string;
  scheduled_start_time: string;
  scheduled_end_time: string;
  title: string;
  platform_meeting_id?: string;
  sessions: { uid: string; start_time: string; end_time?: string }[];
  recording_uids: string[];
  transcript_uids: string[];
  summary_uids: string[];
  [field: string]: unknown;
}
export interface Participant extends Entity {
  past_meeting_uid: string;
  meeting_uid: string;
  email: string;
  first_name?: string;
  last_name?: string;
  is_invited: boolean;
  is_attended: boolean;
  sessions: { uid: string; join_time: string; leave_time?: string; leave_reason?: string }[];
  [field: string]: unknown;
}
export interface ErrorBody {
  error: { status: number; code: string; message: string; details?: { path: string }[] };
}

/** Occurrences of `dailyMeeting`: 15:00 UTC every day from 2030-01-15, ten of them. */
export const DAILY_START_MS = Date.UTC(2030, 0, 15, 15);
export const DAY_MS = 86_400_000;
export const dailyOccurrenceId = (k: number) => String((DAILY_START_MS + k * DAY_MS) / 1000);
export const dailyOccurrenceStart = (k: number) =>
  new Date(DAILY_START_MS + k * DAY_MS).toISOString().replace(".000Z", "Z");

export function dailyMeetingInput(overrides: Record<string, unknown> = {}) {
  return meetingInput({
    start_time: "2030-01-15T15:00:00Z",
    timezone: "UTC",
    duration: 45,
    recurrence: { type: 1, repeat_interval: 1, end_times: 10 },
    ...overrides,
  });
}

let entitySchemas: Promise<Map<string, CompiledSchema>> | undefined;

/** Fails unless `reply` is valid against schemas/entities/<name>.json. */
export async function expectEntity(name: string, reply: unknown): Promise<void> {
  entitySchemas ??= loadEntitySchemas();
  const schema = (await entitySchemas).get(name);
  if (schema === undefined) throw new Error(`no entity schema ${name}`);
  expect({ entity: name, violations: schema.validate(reply) }).toEqual({
    entity: name,
    violations: [],
  });
}

/** `client` may be a getter, for a connection opened only in beforeAll (test/support/harness.ts). */
export function lifecycleClient(client: NatsConnection | (() => NatsConnection)) {
  const nc = (): NatsConnection => (typeof client === "function" ? client() : client);
  return {
    createMeeting: (overrides: Record<string, unknown> = {}) =>
      ok<Meeting>(nc(), "lfx.meetings.create", meetingInput(overrides)),
    createDailyMeeting: (overrides: Record<string, unknown> = {}) =>
      ok<Meeting>(nc(), "lfx.meetings.create", dailyMeetingInput(overrides)),
    start: (body: Record<string, unknown>) =>
      request<PastMeeting>(nc(), "lfx.past-meetings.start", body),
    /** A started past meeting of a one-off meeting (its only occurrence). */
    async startedPastMeeting(meetingOverrides: Record<string, unknown> = {}) {
      const meeting = await ok<Meeting>(
        nc(),
        "lfx.meetings.create",
        meetingInput(meetingOverrides),
      );
      const pastMeeting = await ok<PastMeeting>(nc(), "lfx.past-meetings.start", {
        meeting_uid: meeting.uid,
        started_at: "2030-01-15T15:02:00Z",
      });
      return { meeting, pastMeeting };
    },
    getPastMeeting: (uid: string) => ok<PastMeeting>(nc(), "lfx.past-meetings.get", { uid }),
    listAll: <T>(subject: string, filter: Record<string, unknown>, limit = 7): Promise<T[]> =>
      listAllPages<T>(nc(), subject, filter, { limit }),
  };
}

export function errorPaths(reply: Reply<unknown>): string[] {
  return ((reply.body as ErrorBody).error.details ?? []).map((d) => d.path);
}
