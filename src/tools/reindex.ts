// `npm run reindex [-- RESOURCE...]` (docs/CONTRACT.md §1): sends the search-index and
// access-control messages of the current state of every entity (of the named resources: `meetings`,
// `registrants`...) again, and exits 0; an unknown resource or a failure exits 2. Connects with the
// service's configuration (NATS_URL, credentials, SERVICE_TOKEN). On a terminal it shows on stderr
// how far it is through each resource.
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig, natsIdentity } from "../config.js";
import { createLogger } from "../logger.js";
import { reindex } from "../outbox/reindex.js";

async function main(): Promise<number> {
  const resources = process.argv.slice(2);
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const nc = await connect({
    servers: config.natsServers,
    name: "lfx-meeting-service reindex",
    ...natsIdentity(config),
  });
  try {
    const onTerminal = process.stderr.isTTY;
    const sent = await reindex({
      nc,
      js: jetstream(nc, { timeout: config.kvTimeoutMs }),
      resources,
      serviceToken: config.serviceToken,
      log,
      onProgress: ({ resource, done, total }) => {
        if (!onTerminal) return;
        const width = 30;
        const filled = total === 0 ? width : Math.round((done / total) * width);
        process.stderr.write(
          `\r\x1b[K${resource} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total}`,
        );
      },
    });
    if (onTerminal) process.stderr.write("\r\x1b[K");
    process.stderr.write(`reindexed ${sent} entit${sent === 1 ? "y" : "ies"}\n`);
    return 0;
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`reindex failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
