// Ports a test chooses before a process binds them (a cluster's route ports, which every node's
// configuration names before any node runs). A port the kernel handed out for listen(0) and gave
// back is in its ephemeral range, where it may hand it out again before the process binds it: to a
// server's random client port (`listen: 127.0.0.1:-1`) or to an outgoing connection. That
// happened: a node of a test cluster exited with "Error listening on router port ... address
// already in use" after its client port was up, and the cluster ran on two nodes. Ports below
// that range are only ever given to whoever asks for them by number.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST_CHOSEN_PORT = 10_000;
/** Linux's default ephemeral range starts here; used where /proc cannot be read. */
const DEFAULT_EPHEMERAL_LOW = 32_768;

function ephemeralRangeLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/);
    const parsed = Number(low);
    return Number.isInteger(parsed) && parsed > LOWEST_CHOSEN_PORT ? parsed : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/**
 * A loopback port that is free now and outside the kernel's ephemeral range, so that nothing but
 * a process asking for it by number takes it. Never the same one twice in a test file.
 */
export async function freeChosenPort(): Promise<number> {
  const high = ephemeralRangeLow();
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = LOWEST_CHOSEN_PORT + Math.floor(Math.random() * (high - LOWEST_CHOSEN_PORT));
    if (handedOut.has(port) || !(await isFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${LOWEST_CHOSEN_PORT} and ${high}`);
}
