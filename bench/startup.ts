// Start-up (issue 12): at each step of the scale section a fresh instance is started next to the
// running one, on the buckets as they are, and timed until it answers `$SRV.PING`; once it does,
// it replaces the running one, so the lists of the step are measured on it and its memory after
// start and under that load is its own. An instance that does not answer within
// BENCH_START_TIMEOUT_SECONDS is stopped and the running one stays.
import type { NatsConnection } from "@nats-io/nats-core";
import { progress } from "./measure.js";
import { instanceIds, memoryOf, type ChildHandle } from "./processes.js";
import { SERVICE_NAME, START_TIMEOUT_MS } from "./settings.js";

export interface StartupRow {
  /** Other entities in the meetings and in the registrants bucket. */
  others: number;
  /** Keys in all of the service's buckets when the instance started. */
  keys: number;
  /** From spawning the process to its first `$SRV.PING` reply; NaN: none within the timeout. */
  ready_ms: number;
  /** VmRSS when it first answered. */
  rss_after_start_mib: number;
  /** VmHWM after the step's lists were measured on it (set by the scale section). */
  peak_rss_under_load_mib: number;
}

/** The running service instance, which a fresh one replaces. */
export interface ServiceSlot {
  current: ChildHandle;
  spawn: (name: string) => ChildHandle;
}

export async function startFreshInstance(
  nc: NatsConnection,
  slot: ServiceSlot,
  { others, keys }: { others: number; keys: number },
): Promise<StartupRow> {
  // Every instance already answering, from three pings of a second each: one that missed a
  // single short ping (busy after a fill) would later be taken for the fresh one.
  const running = new Set<string>();
  for (let ping = 0; ping < 3; ping++) {
    for (const id of await instanceIds(nc, SERVICE_NAME, 1000)) running.add(id);
  }
  const started = performance.now();
  const fresh = slot.spawn(`service-at-${others}`);
  const deadline = started + START_TIMEOUT_MS;
  let readyMs = NaN;
  while (performance.now() < deadline && fresh.child.exitCode === null) {
    const answering = await instanceIds(nc, SERVICE_NAME, 100);
    if ([...answering].some((id) => !running.has(id))) {
      readyMs = performance.now() - started;
      break;
    }
  }
  const keysText = keys.toLocaleString("en-US");
  if (Number.isNaN(readyMs)) {
    await fresh.stop();
    progress(
      `  a fresh instance on ${keysText} keys did not answer $SRV.PING within ${START_TIMEOUT_MS / 1000} s; the running instance stays`,
    );
    return {
      others,
      keys,
      ready_ms: NaN,
      rss_after_start_mib: NaN,
      peak_rss_under_load_mib: NaN,
    };
  }
  const { rss_mib } = memoryOf(fresh.pid);
  await slot.current.stop();
  slot.current = fresh;
  progress(
    `  a fresh instance on ${keysText} keys answered $SRV.PING after ${(readyMs / 1000).toFixed(1)} s, RSS ${rss_mib.toFixed(0)} MiB; it replaces the running one`,
  );
  return {
    others,
    keys,
    ready_ms: readyMs,
    rss_after_start_mib: rss_mib,
    peak_rss_under_load_mib: NaN,
  };
}
