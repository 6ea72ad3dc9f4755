// `make run` without the platform: creates the platform's `fga-sync-events` stream on the local
// server when it is missing, so that the service's access-control messages (docs/PLATFORM.md §2)
// are acknowledged and can be looked at (`nats stream view fga-sync-events`). In production the
// platform owns this stream and the service never creates it (docs/CONTRACT.md §9). Runs as the
// local operator (no credentials: nats-auth.conf's no_auth_user).
import process from "node:process";
import { jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const STREAM = "fga-sync-events";
const STREAM_NOT_FOUND = 10059;

const nc = await connect({ servers: (process.env.NATS_URL ?? "nats://127.0.0.1:4222").split(",") });
try {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(STREAM);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) throw err;
    // A week of messages is plenty to look at locally; the platform sets its own limits.
    await jsm.streams.add({
      name: STREAM,
      subjects: ["lfx.fga-sync.>"],
      max_age: 7 * 24 * 60 * 60 * 1e9,
    });
    process.stderr.write(`created the local ${STREAM} stream\n`);
  }
} finally {
  await nc.close();
}
