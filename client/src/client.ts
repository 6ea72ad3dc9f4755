// A typed client of lfx-meeting-service (docs/CONTRACT.md §3, §4): one method per subject, typed by
// the request and reply types generated from schemas/ (generated/schema-types.ts, `npm run
// gen:types` in the service's repository), errors as MeetingServiceError, and the retries the
// contract makes safe:
// - a 503 `unavailable` (and "no responders": no instance was listening) is retried after the
//   service's `retry_after_ms`; the contract says a 503 is safe to retry;
// - a timeout is retried only when repeating the request cannot do anything twice: a create with
//   an Idempotency-Key (the service replays the first reply, docs/CONTRACT.md §3), and reads
//   (`get`, `list`). A timed-out write without a key may have been stored, so it is thrown to the
//   caller.
import {
  connect,
  headers as natsHeaders,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type ConnectionOptions,
  type NatsConnection,
} from "@nats-io/transport-node";
import { errorFromReply, MeetingServiceError } from "./errors.js";
import type { LIST_SUBJECTS } from "./generated/schema-types.js";
import {
  SUBJECTS,
  type Page,
  type ReplyBySubject,
  type RequestBySubject,
  type Subject,
} from "./generated/schema-types.js";

export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";
export const AUTHORIZATION_HEADER = "Authorization";
export const REQUEST_ID_HEADER = "Request-Id";
const ERROR_CODE_HEADER = "Nats-Service-Error-Code";
const ERROR_HEADER = "Nats-Service-Error";

export interface CallOptions {
  /** Sent as `Idempotency-Key` (1..128 visible ASCII): makes a create safe to retry. */
  idempotencyKey?: string;
  /** A bearer token, sent as `Authorization: Bearer <token>`; overrides the client's. */
  token?: string;
  /** Sent as `Request-Id`, which the service logs with the request. */
  requestId?: string;
  /** How long to wait for each attempt's reply (default: the client's, 5000 ms). */
  timeoutMs?: number;
  /** How many times to retry after the first attempt (default: the client's, 3). */
  retries?: number;
}

export interface ClientOptions {
  token?: string;
  timeoutMs?: number;
  retries?: number;
  /** The longest wait between attempts, whatever the service hints (default 10,000 ms). */
  maxRetryDelayMs?: number;
}

const DEFAULTS = { timeoutMs: 5000, retries: 3, maxRetryDelayMs: 10_000 };
/** When a 503 carries no hint (no responders, a proxy's reply). */
const FALLBACK_RETRY_MS = 250;

export type ListSubject = (typeof LIST_SUBJECTS)[number];
/** The items of a list subject's pages. */
export type ItemOf<S extends ListSubject> = ReplyBySubject[S] extends Page<infer T> ? T : never;
/** A list request without its paging fields, which the iterators manage. */
export type Filters<S extends ListSubject> = Omit<RequestBySubject[S], "cursor">;

type Camel<S extends string> = S extends `${infer H}-${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S extends `${infer H}_${infer T}`
    ? `${H}${Capitalize<Camel<T>>}`
    : S;
type ResourceOf<S> = S extends `lfx.${infer R}.${string}` ? R : never;
type ActionOf<R extends string, S> = S extends `lfx.${R}.${infer A}` ? A : never;
type Method<S extends Subject> = (
  request: RequestBySubject[S],
  options?: CallOptions,
) => Promise<ReplyBySubject[S]>;

/** `client.meetings.create(...)`, `client.meetingSettings.get(...)`: one method per subject. */
export type ResourceMethods = {
  [R in ResourceOf<Subject> as Camel<R>]: {
    [A in ActionOf<R, Subject> as Camel<A>]: Method<Extract<`lfx.${R}.${A}`, Subject>>;
  };
};

const camel = (name: string): string =>
  name.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function isSubject(name: string): name is Subject {
  return (SUBJECTS as readonly string[]).includes(name);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Client {
  readonly #nc: NatsConnection;
  readonly #owned: boolean;
  readonly #defaults: Required<Omit<ClientOptions, "token">> & { token?: string };

  constructor(nc: NatsConnection, options: ClientOptions = {}, owned = false) {
    this.#nc = nc;
    this.#owned = owned;
    this.#defaults = { ...DEFAULTS, ...options };
    for (const subject of SUBJECTS) {
      const [, resource = "", action = ""] = subject.split(".");
      if (camel(resource) in Client.prototype) throw new Error(`${subject} shadows a method`);
      const group = ((this as Record<string, unknown>)[camel(resource)] ??= {}) as Record<
        string,
        unknown
      >;
      group[camel(action)] = (request: never, options?: CallOptions) =>
        this.request(subject, request, options);
    }
  }

  /** The connection, e.g. to subscribe to `lfx.events.>` beside the calls. */
  get connection(): NatsConnection {
    return this.#nc;
  }

  /** Sends one request; retries as the module comment says; throws MeetingServiceError. */
  async request<S extends Subject>(
    subject: S,
    request: RequestBySubject[S],
    options: CallOptions = {},
  ): Promise<ReplyBySubject[S]> {
    const retries = options.retries ?? this.#defaults.retries;
    const timeoutRetryable = options.idempotencyKey !== undefined || /\.(get|list)$/.test(subject);
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.#once(subject, request, options);
      } catch (err) {
        if (!(err instanceof MeetingServiceError) || attempt >= retries) throw err;
        const retryable =
          err.code === "unavailable" ||
          err.code === "no_responders" ||
          (err.code === "timeout" && timeoutRetryable);
        if (!retryable) throw err;
        const hint = err.code === "timeout" ? 0 : (err.retryAfterMs ?? FALLBACK_RETRY_MS);
        await sleep(Math.min(hint, this.#defaults.maxRetryDelayMs));
      }
    }
  }

  /** Every page of a list, following `next_cursor`, from the first (or from `cursor`). */
  async *pages<S extends ListSubject>(
    subject: S,
    filters: Filters<S> & { cursor?: string },
    options: CallOptions = {},
  ): AsyncGenerator<ReplyBySubject[S], void, undefined> {
    let cursor: string | null | undefined = filters.cursor;
    do {
      const request = { ...filters, ...(cursor == null ? {} : { cursor }) };
      const page = (await this.request(subject, request as RequestBySubject[S], options)) as Page<
        ItemOf<S>
      >;
      yield page as ReplyBySubject[S];
      cursor = page.next_cursor;
    } while (cursor !== null);
  }

  /** Every item of a list, page after page: `for await (const m of client.items(...))`. */
  async *items<S extends ListSubject>(
    subject: S,
    filters: Filters<S> & { cursor?: string },
    options: CallOptions = {},
  ): AsyncGenerator<ItemOf<S>, void, undefined> {
    for await (const page of this.pages(subject, filters, options)) {
      yield* (page as Page<ItemOf<S>>).items;
    }
  }

  /** Closes the connection if the client opened it (MeetingClient.connect). */
  async close(): Promise<void> {
    if (this.#owned) await this.#nc.close();
  }

  async #once<S extends Subject>(
    subject: S,
    request: RequestBySubject[S],
    options: CallOptions,
  ): Promise<ReplyBySubject[S]> {
    const hdrs = natsHeaders();
    const token = options.token ?? this.#defaults.token;
    if (token !== undefined) hdrs.set(AUTHORIZATION_HEADER, `Bearer ${token}`);
    if (options.idempotencyKey !== undefined) {
      hdrs.set(IDEMPOTENCY_KEY_HEADER, options.idempotencyKey);
    }
    if (options.requestId !== undefined) hdrs.set(REQUEST_ID_HEADER, options.requestId);
    const timeout = options.timeoutMs ?? this.#defaults.timeoutMs;
    let msg;
    try {
      msg = await this.#nc.request(subject, JSON.stringify(request), { timeout, headers: hdrs });
    } catch (err) {
      throw translate(subject, err, timeout);
    }
    const text = msg.data.length === 0 ? "" : msg.string();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch (err) {
      throw new MeetingServiceError(
        subject,
        { status: 502, code: "internal", message: "the reply is not JSON" },
        { cause: err },
      );
    }
    const code = msg.headers?.get(ERROR_CODE_HEADER) ?? "";
    if (code !== "") {
      throw errorFromReply(subject, Number(code), msg.headers?.get(ERROR_HEADER) ?? "", body);
    }
    return body as ReplyBySubject[S];
  }
}

function translate(subject: string, err: unknown, timeoutMs: number): unknown {
  const cause = err instanceof RequestError && err.cause !== undefined ? err.cause : err;
  if (cause instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
    return new MeetingServiceError(
      subject,
      { status: 503, code: "no_responders", message: "no instance of the service is listening" },
      { cause: err },
    );
  }
  if (cause instanceof TimeoutError) {
    return new MeetingServiceError(
      subject,
      { status: 504, code: "timeout", message: `no reply within ${timeoutMs} ms` },
      { cause: err },
    );
  }
  return err;
}

/** The client: `request`/`pages`/`items`, plus one method per subject (ResourceMethods). */
export type MeetingClient = Client & ResourceMethods;

/** Wraps a connection the caller owns (and closes). */
export function createMeetingClient(nc: NatsConnection, options?: ClientOptions): MeetingClient {
  return new Client(nc, options) as MeetingClient;
}

/** Opens a connection of its own, closed by `close()`. */
export async function connectMeetingClient(
  connection: ConnectionOptions,
  options?: ClientOptions,
): Promise<MeetingClient> {
  const nc = await connect({ name: "lfx-meeting-client", ...connection });
  return new Client(nc, options, true) as MeetingClient;
}
