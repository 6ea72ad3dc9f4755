// `lfx.meetings-api.get_title` (docs/PLATFORM.md §4): other platform services show a meeting's
// title next to their records. Not JSON and not a micro endpoint: the uid comes as raw bytes and
// the title goes back as raw bytes, empty when there is no such meeting, as the platform's other
// `*-api.get_*` subjects do. Subscribed in the service's queue group once the buckets are ready.
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { Logger } from "../logger.js";
import type { Bucket } from "../store/kv/buckets.js";
import { isDirectKey } from "../store/kv/keys.js";

export const GET_TITLE_SUBJECT = "lfx.meetings-api.get_title";

export function answerGetTitle(
  nc: NatsConnection,
  meetings: Bucket,
  queue: string,
  log: Logger,
): Subscription {
  const answer = async (uid: string): Promise<string> => {
    // Anything that is not a uid (a wildcard, a key of another kind) names no meeting.
    if (!isDirectKey(uid)) return "";
    const entry = await meetings.kv.get(uid);
    if (entry === null || entry.operation !== "PUT") return "";
    const title = entry.json<{ title?: unknown }>().title;
    return typeof title === "string" ? title : "";
  };
  return nc.subscribe(GET_TITLE_SUBJECT, {
    queue,
    callback: (err, msg) => {
      if (err !== null) return;
      answer(msg.string().trim()).then(
        (title) => msg.respond(title),
        (cause: unknown) => {
          // No title is not "no such meeting": the error headers say so, for callers that look.
          log.error({ err: cause, subject: GET_TITLE_SUBJECT }, "get_title failed");
          const header = natsHeaders();
          header.set("Nats-Service-Error", "storage unavailable; retry");
          header.set("Nats-Service-Error-Code", "503");
          msg.respond("", { headers: header });
        },
      );
    },
  });
}
