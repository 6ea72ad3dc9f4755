// The bare limit (issue 7): a minimal responder, a separate process like the service, with no
// framework, no validation, no logging and no concurrency limit, doing the KV work of
// `lfx.meetings.get` and `lfx.meetings.create`, and of a page of `lfx.registrants.list`:
//   get:    one kv.get of the meeting, reply with its value and revision;
//   create: as the service (handlers/meetings.ts), create-only write of the settings and put of
//           the project index key in parallel, then a create-only write of the meeting (two round
//           trips), reply with the meeting and its revision;
//   list:   one request to the registrants bucket's stream (a stand-in for the one that tells
//           the service where a page ends), then a kv.get of each of the given registrant keys
//           in parallel.
// Its buckets have the service's settings and are bound as the service binds them (`kvm.create`,
// which enables direct gets), but are its own (bare-subjects.ts).
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, headers, type Msg } from "@nats-io/transport-node";
import { nanoid } from "nanoid";
import { BUCKET_NAMES, bucketSettings } from "../src/store/kv/buckets.js";
import { meetingIndexKeys, type StoredMeeting } from "../src/store/resources/meetings.js";
import { BARE_BUCKETS, BARE_CREATE, BARE_GET, BARE_LIST_REGISTRANTS } from "./bare-subjects.js";

const QUEUE = "bench-bare";

function fail(msg: Msg, err: unknown): void {
  const hdrs = headers();
  hdrs.set("Nats-Service-Error-Code", "500");
  hdrs.set("Nats-Service-Error", String(err));
  msg.respond("", { headers: hdrs });
}

async function main(): Promise<void> {
  // The service's own client settings (src/main.ts), so that the difference is the service's work.
  const nc = await connect({
    servers: process.env["NATS_URL"] ?? "nats://127.0.0.1:4222",
    noAsyncTraces: true,
  });
  const kvm = new Kvm(jetstream(nc));
  const [meetings, settings]: KV[] = await Promise.all([
    kvm.create(BARE_BUCKETS.meetings, bucketSettings("meetings", 1)),
    kvm.create(BARE_BUCKETS.meetingSettings, bucketSettings("meetingSettings", 1)),
  ]);
  if (meetings === undefined || settings === undefined) throw new Error("buckets not bound");
  // The service's bucket, read only; bound as the service binds it.
  const registrants = await kvm.create(BUCKET_NAMES.registrants, bucketSettings("registrants", 1));
  const jsm = await jetstreamManager(nc);

  nc.subscribe(BARE_LIST_REGISTRANTS, {
    queue: QUEUE,
    callback: (_err, msg) => {
      void (async () => {
        try {
          const { keys } = msg.json<{ keys: string[] }>();
          await jsm.streams.info(`KV_${BUCKET_NAMES.registrants}`);
          const entries = await Promise.all(keys.map((key) => registrants.get(key)));
          const items = entries.flatMap((entry) =>
            entry === null || entry.operation !== "PUT" ? [] : [entry.json<object>()],
          );
          msg.respond(JSON.stringify({ items, next_cursor: null }));
        } catch (err) {
          fail(msg, err);
        }
      })();
    },
  });

  nc.subscribe(BARE_GET, {
    queue: QUEUE,
    callback: (_err, msg) => {
      void (async () => {
        try {
          const { uid } = msg.json<{ uid: string }>();
          const entry = await meetings.get(uid);
          if (entry === null || entry.operation !== "PUT") throw new Error("not found");
          const meeting = entry.json<object>();
          msg.respond(JSON.stringify({ ...meeting, revision: entry.revision }));
        } catch (err) {
          fail(msg, err);
        }
      })();
    },
  });

  nc.subscribe(BARE_CREATE, {
    queue: QUEUE,
    callback: (_err, msg) => {
      void (async () => {
        try {
          const { organizers, ...fields } = msg.json<{ organizers?: string[] }>();
          const uid = nanoid();
          const timestamp = new Date().toISOString();
          const meeting = {
            ...fields,
            uid,
            registrant_count: 0,
            created_at: timestamp,
            updated_at: timestamp,
          } as StoredMeeting;
          const meetingSettings = {
            uid,
            organizers: organizers ?? [],
            created_at: timestamp,
            updated_at: timestamp,
          };
          await Promise.all([
            settings.create(uid, JSON.stringify(meetingSettings)),
            ...meetingIndexKeys(meeting).map((key) => meetings.put(key, uid)),
          ]);
          const revision = await meetings.create(uid, JSON.stringify(meeting));
          msg.respond(JSON.stringify({ ...meeting, revision }));
        } catch (err) {
          fail(msg, err);
        }
      })();
    },
  });

  await nc.flush();
  process.stdout.write("ready\n");
  const stop = () => {
    void nc.drain().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bare responder: ${String(err)}\n`);
  process.exit(1);
});
