// `npm run check-consistency [-- --repair] [--grace-seconds N]` (CONTRACT §1): reports every
// cross-bucket inconsistency, one line each, and exits 1 if it found any; with --repair it repairs
// them and exits 0. Keys written in the last N seconds are not judged: they may belong to requests
// in flight. The default is the request deadline (config.ts), the longest a request's write can
// be in flight, and the check first waits that long, so that everything written before it was
// started is judged: an operator who runs it right after an incident sees every inconsistency. Connects with the service's configuration (NATS_URL, credentials). On a
// terminal it shows on stderr the bucket being walked and, while it counts the children of a page
// of meetings or past meetings (consistency.ts), which page.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream } from "@nats-io/jetstream";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { loadConfig } from "../config.js";
import { checkConsistency } from "./consistency.js";

/** Creating a key listing's consumer walks the whole bucket on nats-server 2.9 (FACTS.md). */
const LISTING_TIMEOUT_MS = 60_000;

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const repair = args.includes("--repair");
  const graceIndex = args.indexOf("--grace-seconds");
  const config = loadConfig();
  const graceMs =
    graceIndex === -1 ? config.requestDeadlineMs : Number(args[graceIndex + 1]) * 1000;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new Error("--grace-seconds takes a number of seconds");
  }
  const nc = await connect({
    servers: config.natsServers,
    name: "lfx-meeting-service check-consistency",
    ...config.natsUserPassword,
    ...(config.natsCreds === undefined
      ? {}
      : { authenticator: credsAuthenticator(readFileSync(config.natsCreds)) }),
  });
  try {
    await sleep(graceMs);
    const onTerminal = process.stderr.isTTY;
    const findings = await checkConsistency(jetstream(nc, { timeout: config.kvTimeoutMs }), {
      repair,
      now: () => new Date(),
      graceMs,
      listingJs: jetstream(nc, { timeout: LISTING_TIMEOUT_MS }),
      onFinding: (f) => {
        if (onTerminal) process.stderr.write("\r\x1b[K");
        process.stdout.write(
          `${f.kind} ${f.bucket} ${f.subject}: ${f.message}${repair ? " (repaired)" : ""}\n`,
        );
      },
      onProgress: ({ bucket, keys, pass }) => {
        if (!onTerminal) return;
        process.stderr.write(
          pass === undefined
            ? `\r\x1b[K${bucket}: ${keys} keys checked`
            : `\r\x1b[K${pass.parents}, page ${pass.page}: ${keys} keys of ${bucket} counted`,
        );
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
