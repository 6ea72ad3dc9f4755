// The package's entry: the client, its errors and the generated request and reply types.
export {
  AUTHORIZATION_HEADER,
  connectMeetingClient,
  createMeetingClient,
  IDEMPOTENCY_KEY_HEADER,
  isSubject,
  REQUEST_ID_HEADER,
  type CallOptions,
  type ClientOptions,
  type Filters,
  type ItemOf,
  type ListSubject,
  type MeetingClient,
  type ResourceMethods,
} from "./client.js";
export { MeetingServiceError, type ErrorCode, type ErrorDetail } from "./errors.js";
export * from "./generated/schema-types.js";
