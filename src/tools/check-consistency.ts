// `npm run check-consistency [-- --repair] [--grace-seconds N]` (CONTRACT §1): reports every
// cross-bucket inconsistency, one line each, and exits 1 if it found any; with --repair it repairs
// them and exits 0. Keys written in the last N seconds (default 60) are not judged: they may belong
// to requests in flight. Connects with the service's configuration (NATS_URL, credentials).
import { readFileSync } from "node:fs";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { loadConfig } from "../config.js";
import { BUCKET_NAMES } from "../store/buckets.js";
import { checkConsistency } from "./consistency.js";

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const repair = args.includes("--repair");
  const graceIndex = args.indexOf("--grace-seconds");
  const graceSeconds = graceIndex === -1 ? 60 : Number(args[graceIndex + 1]);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new Error("--grace-seconds takes a number of seconds");
  }
  const config = loadConfig();
  const nc = await connect({
    servers: config.natsServers,
    name: "lfx-meeting-service check-consistency",
    ...config.natsUserPassword,
    ...(config.natsCreds === undefined
      ? {}
      : { authenticator: credsAuthenticator(readFileSync(config.natsCreds)) }),
  });
  try {
    const kvm = new Kvm(jetstream(nc, { timeout: config.kvTimeoutMs }));
    // Bind only: a consistency check never creates a bucket.
    const open = (name: string) => kvm.open(name);
    const buckets = {
      meetings: await open(BUCKET_NAMES.meetings),
      meetingSettings: await open(BUCKET_NAMES.meetingSettings),
      registrants: await open(BUCKET_NAMES.registrants),
      rsvps: await open(BUCKET_NAMES.rsvps),
      pastMeetings: await open(BUCKET_NAMES.pastMeetings),
      participants: await open(BUCKET_NAMES.participants),
      recordings: await open(BUCKET_NAMES.recordings),
      transcripts: await open(BUCKET_NAMES.transcripts),
      summaries: await open(BUCKET_NAMES.summaries),
    };
    const onTerminal = process.stderr.isTTY;
    const findings = await checkConsistency(buckets, {
      repair,
      now: () => new Date(),
      graceMs: graceSeconds * 1000,
      onFinding: (f) => {
        if (onTerminal) process.stderr.write("\r\x1b[K");
        process.stdout.write(
          `${f.kind} ${f.bucket} ${f.subject}: ${f.message}${repair ? " (repaired)" : ""}\n`,
        );
      },
      onProgress: (bucket, seen) => {
        if (onTerminal) process.stderr.write(`\r\x1b[K${bucket}: ${seen} keys checked`);
      },
    });
    if (onTerminal) process.stderr.write("\r\x1b[K");
    process.stderr.write(
      `${findings} inconsistenc${findings === 1 ? "y" : "ies"} found${repair && findings > 0 ? " and repaired" : ""}\n`,
    );
    return findings > 0 && !repair ? 1 : 0;
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `check-consistency failed: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  },
);
