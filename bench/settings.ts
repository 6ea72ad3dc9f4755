// Everything a benchmark run can be told through its environment, parsed once, and where it runs
// from. README "Performance" lists the knobs, and the settings of a full run (BENCH_SCALE=1000000).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

/** The repository root: the nearest directory above this script with a package.json. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above the bench script");
    dir = parent;
  }
  return dir;
}

export const ROOT = repositoryRoot();
export const RESULTS = join(ROOT, "bench", "results");
export const SERVICE_MAIN = join(ROOT, "dist", "main.js");
export const SERVICE_NAME = "lfx-meeting-service";

export const RUN_MS = numberFromEnv("BENCH_SECONDS", 3) * 1000;
export const WARMUP_MS = Math.min(1000, RUN_MS / 3);
export const ROUNDS = numberFromEnv("BENCH_ROUNDS", 3);
export const LOG_LEVEL = process.env["BENCH_LOG_LEVEL"] ?? "info";
/**
 * One section alone, for a figure wanted without the whole run: "auth" (issue 14) or
 * "durability" (issue 20). Unset: everything.
 */
export const ONLY = sectionFromEnv("BENCH_ONLY", ["auth", "durability"]);

function sectionFromEnv<T extends string>(name: string, sections: readonly T[]): T | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!(sections as readonly string[]).includes(raw)) {
    throw new Error(`${name} must be one of ${sections.join(", ")}`);
  }
  return raw as T;
}

/**
 * Other entities in the meetings and in the registrants bucket at the largest step of the scale
 * section (a meeting is 2 keys, a registrant 4: 1,000,000 of each is about 6 million keys).
 */
export const SCALE_LARGE = numberFromEnv("BENCH_SCALE", 100_000);
/** The steps of the scale section: lists and a fresh instance's start-up at each. */
export const SCALE_STEPS = [
  ...new Set([Math.min(1000, SCALE_LARGE), Math.max(1000, SCALE_LARGE / 10), SCALE_LARGE]),
].sort((a, b) => a - b);
export const SCALE_SMALL = SCALE_STEPS[0] ?? SCALE_LARGE;

/** How long a fresh instance may take to answer `$SRV.PING` before it counts as not starting. */
export const START_TIMEOUT_MS = numberFromEnv("BENCH_START_TIMEOUT_SECONDS", 180) * 1000;

/** Instances of the fan-out section (issue 12): few, then many, against one nats-server. */
export const INSTANCES_FEW = 2;
export const INSTANCES_MANY = numberFromEnv("BENCH_INSTANCES", 20);
/** The fan-out section's windows: at rest, and under its fixed request rate. */
export const CPU_WINDOW_MS = numberFromEnv("BENCH_CPU_SECONDS", 10) * 1000;
export const FIXED_RATE_PER_S = numberFromEnv("BENCH_FIXED_RATE", 100);

/** The big meeting of issue 12, created through the service. */
export const BIG_REGISTRANTS = numberFromEnv("BENCH_BIG_REGISTRANTS", 30_000);
export const BIG_RSVPS = numberFromEnv("BENCH_BIG_RSVPS", 10_000);
/** Where the deep page starts: after this many registrants of the big meeting. */
export const DEEP_OFFSET = Math.min(20_000, Math.max(0, BIG_REGISTRANTS - 20));
