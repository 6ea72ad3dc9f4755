// `make run` (scripts/run-local.sh) when a port it needs is taken: it must stop at once with the
// reason, not wait for a server that is not its own. The ports are held by this test, so nothing
// here depends on what else runs on the machine; neither case gets as far as starting JetStream.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { freeChosenPort } from "../support/ports.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const holders: Server[] = [];

/** A loopback port held by a plain listener for the rest of the file. */
async function takenPort(): Promise<number> {
  const holder = createServer();
  holders.push(holder);
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  const address = holder.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function runLocal(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      ["scripts/run-local.sh"],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 20_000 },
      (err, _stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code), stderr }),
    );
  });
}

afterAll(async () => {
  await Promise.all(holders.map((h) => new Promise((resolve) => h.close(resolve))));
});

it("refuses a client port that something else listens on, naming NATS_PORT", async () => {
  const port = await takenPort();
  const result = await runLocal({ NATS_PORT: String(port), NATS_MONITOR_PORT: "0" });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
  expect(result.stderr).toContain("NATS_PORT=");
});

it("shows the server's own error when the server exits during start-up", async () => {
  const monitor = await takenPort();
  const result = await runLocal({
    NATS_PORT: String(await freeChosenPort()),
    NATS_MONITOR_PORT: String(monitor),
  });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain("nats-server failed to start");
  expect(result.stderr).toMatch(new RegExp(`\\[FTL\\].*${monitor}.*address already in use`));
});
