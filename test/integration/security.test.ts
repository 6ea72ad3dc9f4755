// The permissions of nats-auth.conf (docs/SECURITY.md), which nats-server.conf and the local
// cluster's nodes include, proven on a server started with that very `authorization` block and
// `no_auth_user`: the service serves with its own user; a client,
// authenticated or not, can send requests, run discovery and read events, and nothing more: no
// bucket, no JetStream API, no serving or eavesdropping on lfx.* subjects, no publishing events,
// no reading the service's replies from JetStream.
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import {
  connect,
  PermissionViolationError,
  RequestError,
  type ConnectionOptions,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { isEmailAddress } from "../../src/domain/email-address.js";
import { BUCKET_NAMES } from "../../src/store/kv/buckets.js";
import { decodeKey } from "../../src/store/kv/keys.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { discover, type InfoResponse, type PingResponse } from "../support/micro.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ok, request } from "../support/request.js";
import { startInstance, type TestInstance } from "../support/service.js";
import { until } from "../support/until.js";

// Local development credentials, as nats-auth.conf defines them and scripts/run-local.sh passes
// them to the service (documented in docs/SECURITY.md).
const SERVICE_ENV = {
  NATS_USER: "lfx-meeting-service",
  NATS_PASSWORD: "local-service-password",
  NATS_INBOX_PREFIX: "_INBOX_lfx-meeting-service",
};
const CLIENT = {
  user: "lfx-client",
  pass: "local-client-password",
  inboxPrefix: "_INBOX_lfx-client",
};
const OTHER_CLIENT = {
  user: "lfx-other-client",
  pass: "local-other-client-password",
  inboxPrefix: "_INBOX_lfx-other-client",
};
const ADMIN = { user: "lfx-admin", pass: "local-admin-password" };

const CONF_URL = new URL("../../nats-auth.conf", import.meta.url);
/** The local servers' configurations, every one of which must include nats-auth.conf. */
const INCLUDERS = [
  "nats-server.conf",
  "cluster/node-1.conf",
  "cluster/node-2.conf",
  "cluster/node-3.conf",
];
const ROOT_URL = new URL("../../", import.meta.url);
const RUN_LOCAL_URL = new URL("../../scripts/run-local.sh", import.meta.url);

/** The `authorization { ... }` block and the `no_auth_user` line of nats-auth.conf, verbatim. */
function securitySection(conf: string): string {
  const text = conf
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n");
  const start = text.search(/^authorization\s*\{/m);
  if (start === -1) throw new Error("nats-auth.conf has no authorization block");
  let depth = 0;
  let end = -1;
  for (let i = text.indexOf("{", start); i < text.length; i += 1) {
    if (text[i] === "{") depth += 1;
    if (text[i] === "}") depth -= 1;
    if (depth === 0) {
      end = i + 1;
      break;
    }
  }
  const noAuthUser = /^no_auth_user\s*:.*$/m.exec(text);
  if (end === -1 || noAuthUser === null) throw new Error("nats-auth.conf: no no_auth_user");
  return `${text.slice(start, end)}\n${noAuthUser[0]}\n`;
}

let conf: string;
let server: NatsServerHandle;
let instance: TestInstance;
/** What the server refused the service while this file ran: must stay empty. */
let serviceViolations: PermissionViolationError[];
const connections: NatsConnection[] = [];

async function connectAs(options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, ...options });
  connections.push(nc);
  return nc;
}

beforeAll(async () => {
  conf = await readFile(CONF_URL, "utf8");
  server = await startNatsServer({ extraConfig: securitySection(conf) });
  instance = await startInstance(server.url, { env: SERVICE_ENV });
  serviceViolations = watchViolations(instance.nc);
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await instance?.stop();
  await server?.stop();
});

/** Permission errors the server reports on `nc` while `work` runs (after a round trip). */
async function permissionErrors(
  nc: NatsConnection,
  work: () => unknown,
): Promise<PermissionViolationError[]> {
  const seen = watchViolations(nc);
  await work();
  // The server answers a refused publish or subscribe before the PONG of this flush.
  await nc.flush();
  await nc.flush();
  return seen;
}

/** Collects, from now until the connection closes, the permission errors reported on `nc`. */
function watchViolations(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "error" && status.error instanceof PermissionViolationError) {
        seen.push(status.error);
      }
    }
  })();
  return seen;
}

/** Resolves with the error a subscription was closed with (the server refused it). */
async function refusal(sub: Subscription): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const stillOpen = new Promise<"still open">((resolve) => {
    timer = setTimeout(() => resolve("still open"), 2000);
  });
  try {
    return await Promise.race([sub.closed, stillOpen]);
  } finally {
    clearTimeout(timer);
  }
}

/** A request refused by the server rejects with a RequestError caused by the violation. */
/** Each request on `subjects` is refused by the server as a publish it does not permit. */
async function expectRequestsRefused(nc: NatsConnection, subjects: readonly string[]) {
  for (const subject of subjects) {
    const err = await nc.request(subject, "{}", { timeout: 2000 }).catch((e: unknown) => e);
    expectPermissionViolation(err, "publish", subject);
  }
}

function expectPermissionViolation(err: unknown, operation: string, subject: string): void {
  const violation = err instanceof RequestError ? err.cause : err;
  expect(violation).toBeInstanceOf(PermissionViolationError);
  const { operation: refused, subject: on } = violation as PermissionViolationError;
  expect([refused, on]).toEqual([operation, subject]);
}

describe("nats-auth.conf", () => {
  it("lets the service publish to every bucket it owns, and no others", () => {
    const granted = [...conf.matchAll(/"\$KV\.([^."]+)\.>"/g)].map((m) => m[1]);
    expect(granted.sort()).toEqual(Object.values(BUCKET_NAMES).sort());
  });

  it("lets the service call the JetStream API on its own buckets' streams, and no others", async () => {
    const streams = [...conf.matchAll(/"\$JS\.API\.\*\.\*\.KV_([^."]+)"/g)].map((m) => m[1]);
    expect(streams.sort()).toEqual(Object.values(BUCKET_NAMES).sort());
    const service = await connectAs({
      user: SERVICE_ENV.NATS_USER,
      pass: SERVICE_ENV.NATS_PASSWORD,
      inboxPrefix: SERVICE_ENV.NATS_INBOX_PREFIX,
    });
    const jsm = await jetstreamManager(service, { timeout: 2000 });
    expect((await jsm.streams.info(`KV_${BUCKET_NAMES.meetings}`)).config.name).toBe(
      `KV_${BUCKET_NAMES.meetings}`,
    );
    const denied = [
      "$JS.API.STREAM.NAMES",
      "$JS.API.STREAM.LIST",
      "$JS.API.STREAM.INFO.fga-sync-events",
      "$JS.API.STREAM.CREATE.OTHER",
      "$JS.API.STREAM.DELETE.KV_someone-else",
      "$JS.API.CONSUMER.CREATE.OTHER.reader",
      "$JS.API.DIRECT.GET.KV_someone-else",
      "$JS.API.META.LEADER.STEPDOWN",
    ];
    await expectRequestsRefused(service, denied);
  });

  it("is what scripts/run-local.sh gives the service", async () => {
    const script = await readFile(RUN_LOCAL_URL, "utf8");
    for (const value of Object.values(SERVICE_ENV)) expect(script).toContain(value);
    expect(conf).toContain(`password: "${SERVICE_ENV.NATS_PASSWORD}"`);
  });

  it.each(INCLUDERS)("is included by %s", async (path) => {
    const includer = new URL(path, ROOT_URL);
    const text = await readFile(includer, "utf8");
    // nats-server resolves an include relative to the including file.
    const included = [...text.matchAll(/^include\s+"?([^"\s]+)"?\s*$/gm)].map(
      (m) => new URL(m[1] ?? "", includer).href,
    );
    expect(included).toEqual([CONF_URL.href]);
  });
});

describe.each([["the client user", CLIENT]])(
  "%s",
  (_name, credentials: Partial<ConnectionOptions>) => {
    let client: NatsConnection;

    beforeAll(async () => {
      client = await connectAs(credentials);
    });

    it("sends requests, runs discovery and receives events", async () => {
      const events: Msg[] = [];
      const subscription = client.subscribe("lfx.events.registrants.>", {
        callback: (_err, msg) => {
          events.push(msg);
        },
      });
      await client.flush();
      const meeting = await ok<{ uid: string; revision: number }>(
        client,
        "lfx.meetings.create",
        meetingInput(),
      );
      const registrant = await ok<{ uid: string }>(client, "lfx.registrants.create", {
        meeting_uid: meeting.uid,
        email: uniqueEmail(),
      });
      const page = await ok<{ items: { uid: string }[] }>(client, "lfx.registrants.list", {
        meeting_uid: meeting.uid,
      });
      expect(page.items.map((item) => item.uid)).toEqual([registrant.uid]);
      expect((await request(client, "lfx.meetings.get", { uid: "nope" })).status).toBe(404);

      const event = await until(() => events[0], { message: "the registrant's created event" });
      expect(event.json()).toEqual(expect.objectContaining({ uid: registrant.uid }));
      subscription.unsubscribe();

      expect((await discover<PingResponse>(client, "PING")).name).toBe("lfx-meeting-service");
      const info = await discover<InfoResponse>(client, "INFO");
      expect(info.endpoints.map((e) => e.subject)).toContain("lfx.meetings.create");
    });

    it("cannot call the JetStream API: no bucket can be opened, read or listed", async () => {
      const uid = (await ok<{ uid: string }>(client, "lfx.meetings.create", meetingInput())).uid;
      const denied = [
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.INFO.KV_meetings",
        `$JS.API.DIRECT.GET.KV_meetings.$KV.meetings.${uid}`,
        "$JS.API.STREAM.MSG.GET.KV_meeting-registrants",
        "$JS.API.CONSUMER.CREATE.KV_meeting-registrants",
        "$JS.API.STREAM.PURGE.KV_meetings",
        "$JS.API.STREAM.DELETE.KV_meetings",
      ];
      await expectRequestsRefused(client, denied);
      const kvm = new Kvm(jetstream(client, { timeout: 2000 }));
      const kv = await kvm.open("meetings");
      const attempts: (() => Promise<unknown>)[] = [
        () => kv.get(uid),
        () => kv.put(uid, "{}"),
        () => kv.delete(uid),
        async () => {
          for await (const key of await kv.keys()) return key;
        },
        () => kv.status(),
      ];
      for (const attempt of attempts) {
        const err = await Promise.resolve()
          .then(attempt)
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        const violation = err instanceof RequestError ? err.cause : err;
        expect(violation).toBeInstanceOf(PermissionViolationError);
      }
    });

    it("cannot write a bucket by publishing to its subjects", async () => {
      const meeting = await ok<{ uid: string; revision: number }>(
        client,
        "lfx.meetings.create",
        meetingInput(),
      );
      const subject = `$KV.meetings.${meeting.uid}`;
      const errors = await permissionErrors(client, () => {
        client.publish(subject, JSON.stringify({ title: "overwritten" }));
        client.publish(`$KV.meeting-registrants.forged`, "{}");
      });
      expect(errors.map((e) => [e.operation, e.subject])).toEqual([
        ["publish", subject],
        ["publish", "$KV.meeting-registrants.forged"],
      ]);
      const after = await ok<{ title: string; revision: number }>(client, "lfx.meetings.get", {
        uid: meeting.uid,
      });
      expect([after.title, after.revision]).toEqual([meetingInput().title, meeting.revision]);
    });

    it.each(["$KV.>", "$KV.meetings.>", "$JS.API.>", "$JS.ACK.>", ">"])(
      "cannot subscribe to %s",
      async (subject) => {
        expectPermissionViolation(
          await refusal(client.subscribe(subject)),
          "subscription",
          subject,
        );
      },
    );

    it("cannot serve lfx subjects or discovery in place of the service", async () => {
      for (const subject of ["lfx.meetings.create", "lfx.>", "$SRV.PING", "$SRV.>"]) {
        expectPermissionViolation(
          await refusal(client.subscribe(subject)),
          "subscription",
          subject,
        );
      }
      // Not in the service's queue group either, which would take a share of its requests.
      const err = await refusal(
        client.subscribe("lfx.meetings.create", { queue: "lfx-meeting-service" }),
      );
      expectPermissionViolation(err, "subscription", "lfx.meetings.create");
      expect((err as PermissionViolationError).queue).toBe("lfx-meeting-service");
      // The service still answers every request.
      await ok(client, "lfx.meetings.create", meetingInput());
    });

    it("cannot publish events, platform messages or replies in the service's name", async () => {
      const errors = await permissionErrors(client, () => {
        client.publish("lfx.events.meetings.deleted", "{}");
        client.publish("lfx.index.meeting", "{}");
        client.publish("lfx.fga-sync.member_put", "{}");
        client.publish("_INBOX_lfx-meeting-service.x", "{}");
        client.publish("_INBOX.someone-else", "{}");
      });
      expect(errors.map((e) => e.subject)).toEqual([
        "lfx.events.meetings.deleted",
        "lfx.index.meeting",
        "lfx.fga-sync.member_put",
        "_INBOX_lfx-meeting-service.x",
        "_INBOX.someone-else",
      ]);
    });

    it.each(["_INBOX.>", "_INBOX_lfx-other-client.>", "_INBOX_lfx-meeting-service.>"])(
      "cannot subscribe to other users' replies on %s",
      async (subject) => {
        expectPermissionViolation(
          await refusal(client.subscribe(subject)),
          "subscription",
          subject,
        );
      },
    );

    it("receives its own replies, and another client's requests stay private", async () => {
      const other = await connectAs(OTHER_CLIENT);
      const email = uniqueEmail("eve");
      const meeting = await ok<{ uid: string }>(other, "lfx.meetings.create", meetingInput());
      await ok(other, "lfx.registrants.create", { meeting_uid: meeting.uid, email });
      // The client sees its own replies only, under its own prefix.
      const page = await ok<{ items: { email: string }[] }>(client, "lfx.registrants.list", {
        email,
      });
      expect(page.items.map((item) => item.email)).toEqual([email]);
      // A client with the default `_INBOX.` prefix gets no reply at all.
      const { inboxPrefix: _own, ...withoutPrefix } = credentials as typeof CLIENT;
      const defaultInbox = await connectAs(withoutPrefix);
      const err = await defaultInbox
        .request("lfx.meetings.get", JSON.stringify({ uid: meeting.uid }), { timeout: 1000 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
    });
  },
);

describe.each([
  ["the admin user", ADMIN],
  // The local server's no_auth_user: `npm start` and check-consistency need only NATS_URL.
  ["a connection without credentials to the local server", {}],
])("%s", (_name, credentials: Partial<ConnectionOptions>) => {
  it("can open and read the buckets, for operators' tools", async () => {
    const operator = await connectAs(credentials);
    const kv = await new Kvm(jetstream(operator, { timeout: 2000 })).open("meetings");
    const meeting = await ok<{ uid: string }>(operator, "lfx.meetings.create", meetingInput());
    expect((await kv.get(meeting.uid))?.operation).toBe("PUT");
  });
});

describe("keys are built only through the codec", () => {
  const ID_FIELDS = [
    "uid",
    "meeting_uid",
    "registrant_uid",
    "past_meeting_uid",
    "occurrence_id",
    "committee_uid",
    "project_uid",
  ];
  const HOSTILE_IDS = [
    "*",
    ">",
    ".",
    "..",
    "a.b",
    "a/b",
    "a b",
    "a\tb",
    "$KV.meetings.x",
    "index/meeting/x",
    "aW5kZXg.bWVldGluZw",
    "x.>",
    "",
  ];
  // Valid addresses (RFC 5321/6531) made of what subjects and keys treat specially.
  const AWKWARD_EMAILS = [
    "a.b/c*d@example.org",
    "*@example.org",
    "index/email@example.org",
    "$KV.meetings.x@example.org",
    "a+b=c@example.org",
    "#!$%&'*+-/=?^_`{|}~@example.org",
    '"a b.c"@example.org',
    "ü.ñ@exämple.org",
  ];

  let client: NatsConnection;
  let admin: NatsConnection;

  beforeAll(async () => {
    client = await connectAs(CLIENT);
    admin = await connectAs(ADMIN);
  });

  /** Every key of a bucket, decoded (a key that is not the codec's fails the test). */
  async function decodedKeys(bucket: string): Promise<Map<string, string[]>> {
    const kv = await new Kvm(jetstream(admin, { timeout: 5000 })).open(bucket);
    const keys = new Map<string, string[]>();
    for await (const key of await kv.keys()) {
      // A direct key is a uid (one token); every other key is the codec's (docs/CONTRACT.md §6).
      keys.set(key, key.includes(".") ? decodeKey(key) : [key]);
    }
    return keys;
  }

  async function newKeys(bucket: string, work: () => Promise<unknown>): Promise<string[][]> {
    const before = await decodedKeys(bucket);
    await work();
    const after = await decodedKeys(bucket);
    return [...after].filter(([key]) => !before.has(key)).map(([, segments]) => segments);
  }

  it("refuses (400) a hostile id in every id field of every endpoint, naming the field", async () => {
    const info = await discover<InfoResponse>(client, "INFO");
    let checked = 0;
    for (const endpoint of info.endpoints) {
      const schema = JSON.parse(endpoint.metadata?.["request_schema"] ?? "{}") as {
        properties?: Record<string, unknown>;
      };
      const fields = ID_FIELDS.filter((field) => field in (schema.properties ?? {}));
      for (const field of fields) {
        for (const id of HOSTILE_IDS) {
          const reply = await request<{ error: { details?: { path: string }[] } }>(
            client,
            endpoint.subject,
            { [field]: id },
          );
          expect([endpoint.subject, field, id, reply.status]).toEqual([
            endpoint.subject,
            field,
            id,
            400,
          ]);
          const paths = reply.body.error.details?.map((d) => d.path);
          expect(paths).toContain(`/${field}`);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(40 * HOSTILE_IDS.length);
  });

  it("refuses a hostile committee uid inside a meeting", async () => {
    for (const id of HOSTILE_IDS) {
      const reply = await request<{ error: { details?: { path: string }[] } }>(
        client,
        "lfx.meetings.create",
        meetingInput({ committees: [{ uid: id }] }),
      );
      expect(reply.status).toBe(400);
      expect(reply.body.error.details?.map((d) => d.path)).toContain("/committees/0/uid");
    }
  });

  it("stores a registrant with an awkward email under its own keys only", async () => {
    for (const email of AWKWARD_EMAILS)
      expect([email, isEmailAddress(email)]).toEqual([email, true]);
    const meeting = await ok<{ uid: string }>(client, "lfx.meetings.create", meetingInput());
    const plain = await ok<{ uid: string }>(client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail("plain"),
    });

    for (const email of AWKWARD_EMAILS) {
      const stored = email.toLowerCase();
      let uid = "";
      const added = await newKeys("meeting-registrants", async () => {
        uid = (
          await ok<{ uid: string; email: string }>(client, "lfx.registrants.create", {
            meeting_uid: meeting.uid,
            email,
          })
        ).uid;
      });
      // Each key names only this registrant, its meeting and its email, the email whole.
      const allowed = new Set([uid, meeting.uid, stored, "registrant", "index", "unique"]);
      allowed.add("meeting").add("email").add("meeting-email");
      for (const segments of added) {
        expect(segments.filter((segment) => !allowed.has(segment))).toEqual([]);
      }
      expect(added.filter((segments) => segments.includes(stored)).length).toBeGreaterThan(0);
      expect(added.every((segments) => segments.includes(uid) || segments.includes(stored))).toBe(
        true,
      );

      const byEmail = await ok<{ items: { uid: string }[] }>(client, "lfx.registrants.list", {
        email,
      });
      expect(byEmail.items.map((r) => r.uid)).toEqual([uid]);
      const duplicate = await request(client, "lfx.registrants.create", {
        meeting_uid: meeting.uid,
        email: email.toUpperCase(),
      });
      expect([email, duplicate.status]).toEqual([email, 409]);
    }
    const all = await ok<{ items: { uid: string }[] }>(client, "lfx.registrants.list", {
      meeting_uid: meeting.uid,
    });
    expect(all.items).toHaveLength(AWKWARD_EMAILS.length + 1);
    expect(all.items.map((r) => r.uid)).toContain(plain.uid);
  });

  it("finds a participant by an awkward email through its own claim key only", async () => {
    const meeting = await ok<{ uid: string }>(client, "lfx.meetings.create", meetingInput());
    const past = await ok<{ uid: string }>(client, "lfx.past-meetings.create", {
      meeting_uid: meeting.uid,
      scheduled_start_time: "2030-01-15T15:00:00Z",
      scheduled_end_time: "2030-01-15T16:00:00Z",
    });
    for (const email of AWKWARD_EMAILS) {
      const stored = email.toLowerCase();
      let uid = "";
      const added = await newKeys("past-meeting-participants", async () => {
        uid = (
          await ok<{ uid: string }>(client, "lfx.participants.join", {
            past_meeting_uid: past.uid,
            email,
            joined_at: "2030-01-15T15:01:00Z",
          })
        ).uid;
      });
      const allowed = new Set([uid, past.uid, stored, "index", "unique"]);
      allowed.add("past-meeting").add("past-meeting-email");
      for (const segments of added) {
        expect(segments.filter((segment) => !allowed.has(segment))).toEqual([]);
      }
      expect(added.some((segments) => segments.includes(stored))).toBe(true);
      const again = await ok<{ uid: string }>(client, "lfx.participants.join", {
        past_meeting_uid: past.uid,
        email: email.toUpperCase(),
        joined_at: "2030-01-15T15:02:00Z",
      });
      expect(again.uid).toBe(uid);
    }
  });
});

describe("access checks (docs/CONTRACT.md §8)", () => {
  it("the service's user may ask them; a client cannot answer them", async () => {
    const asked = await permissionErrors(instance.nc, () =>
      instance.nc.publish("lfx.access_check.request", "meeting:m#viewer@user:u"),
    );
    expect(asked).toEqual([]);
    const client = await connectAs(CLIENT);
    expect(await refusal(client.subscribe("lfx.access_check.request"))).not.toBe("still open");
  });
});

describe("the service's user", () => {
  it("publishes search-index and access-control messages (docs/CONTRACT.md §9)", async () => {
    const platform = await connectAs(ADMIN);
    const jsm = await jetstreamManager(platform);
    await jsm.streams.add({ name: "fga-sync-events", subjects: ["lfx.fga-sync.>"] });
    const indexed: string[] = [];
    platform.subscribe("lfx.index.>", {
      callback: (_err, msg) => {
        indexed.push(msg.subject);
      },
    });
    await platform.flush();
    const meeting = await ok<{ uid: string }>(platform, "lfx.meetings.create", meetingInput());
    await until(() => indexed.includes("lfx.index.meeting"), { message: "the index message" });
    await until(
      async () => {
        const info = await jsm.streams.info("fga-sync-events");
        return info.state.messages > 0;
      },
      { timeoutMs: 10_000, message: `update_access of ${meeting.uid} in fga-sync-events` },
    );
  });

  it("was refused nothing while it served every request above", async () => {
    await instance.nc.flush();
    expect(serviceViolations).toEqual([]);
  });
});
