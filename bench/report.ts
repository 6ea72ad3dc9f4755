// What a benchmark run reports: the figures, the targets of issues 7, 12 and 14 checked against
// them (PASS/FAIL), a text table on stdout, and a hand-written SVG chart (no charting dependency).
import type { AuthRow } from "./auth.js";
import type { BigMeetingReport, SmallVsBig } from "./big-meeting.js";
import type { InstancesRow } from "./instances.js";
import type { LoadResult } from "./load.js";
import type { StartupRow } from "./startup.js";

export interface Row {
  endpoint: string;
  in_flight: number;
  /** For get and create: medians over the alternating rounds. */
  service: LoadResult;
  bare?: LoadResult;
  rounds?: { service: LoadResult[]; bare: LoadResult[] };
}

export interface ScaleRow extends LoadResult {
  endpoint: string;
  /** Entities in the bucket besides the 20 listed. */
  others: number;
  in_flight: number;
  /** The runs whose medians the row holds. */
  rounds: LoadResult[];
}

export interface Target {
  issue: number;
  target: string;
  value: string;
  met: boolean;
  /** The figure over its limit (for a "more is better" target, the limit over the figure): <= 1 is met. */
  score: number;
}

export interface Report {
  started_at: string;
  finished_at: string;
  machine: {
    cpu: string;
    cores: number;
    memory_gib: number;
    kernel: string;
    node: string;
    nats_server: string;
    /** The 1-minute load average at the start and at the end: the machine may be shared. */
    load_average: number[];
  };
  settings: {
    run_seconds: number;
    rounds: number;
    log_level: string;
    scale_small: number;
    scale_large: number;
    scale_steps: number[];
  };
  rows: Row[];
  scale: ScaleRow[];
  memory: { peak_rss_mib: number; rss_mib: number };
  /** A fresh instance at each step of the scale section (startup.ts). */
  startup: StartupRow[];
  big_meeting?: BigMeetingReport;
  instances: InstancesRow[];
  auth: AuthRow[];
  targets: Target[];
}

const PEAK_RSS_LIMIT_MIB = 200;
/** Issue 12. */
const READY_LIMIT_MS = 5000;
const RSS_LIMIT_MIB = 150;
const SMALL_VS_BIG_LIMIT = 1.5;
const LIST_FLAT_LIMIT = 1.5;
/** "The same within noise": what two runs of the same code differ by on this machine. */
const INSTANCES_LIMIT = 1.25;
/** Issue 14: jwt within 10% of off. */
const AUTH_LIMIT = 1.1;

function row(report: Report, endpoint: string, inFlight: number): Row | undefined {
  return report.rows.find((r) => r.endpoint === endpoint && r.in_flight === inFlight);
}

function scaleRow(report: Report, endpoint: string, others: number): ScaleRow | undefined {
  return report.scale.find(
    (r) => r.endpoint === endpoint && r.others === others && r.in_flight === 1,
  );
}

const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");
const count = (n: number) => n.toLocaleString("en-US");

/** A target "figure <= limit" (NaN, a figure that could not be measured, is not met). */
function atMost(
  issue: number,
  target: string,
  figure: number,
  limit: number,
  value: string,
): Target {
  return { issue, target, value, met: figure <= limit, score: figure / limit };
}

/** A target "figure >= limit". */
function atLeast(
  issue: number,
  target: string,
  figure: number,
  limit: number,
  value: string,
): Target {
  return { issue, target, value, met: figure >= limit, score: limit / figure };
}

function ratioOf(pair: SmallVsBig | undefined): { ratio: number; text: string } {
  const ratio = pair === undefined ? NaN : pair.big.p50_ms / pair.small.p50_ms;
  return {
    ratio,
    text: `${fixed(ratio)}x (${fixed(pair?.big.p50_ms ?? NaN)} vs ${fixed(pair?.small.p50_ms ?? NaN)} ms)`,
  };
}

/** The targets of issues 7, 12 and 14, as benchmark figures. */
export function evaluate(report: Report): Target[] {
  const targets: Target[] = [];
  const { scale_small: small, scale_large: large } = report.settings;

  // Issue 12: start-up and memory.
  for (const step of report.startup) {
    targets.push(
      atMost(
        12,
        `a fresh instance answers $SRV.PING within ${READY_LIMIT_MS / 1000} s (${count(step.keys)} keys)`,
        step.ready_ms,
        READY_LIMIT_MS,
        Number.isNaN(step.ready_ms) ? "no answer" : `${fixed(step.ready_ms / 1000, 1)} s`,
      ),
    );
  }
  const largest = report.startup[report.startup.length - 1];
  for (const [what, figure] of [
    ["after start", largest?.rss_after_start_mib ?? NaN],
    ["peak under load", largest?.peak_rss_under_load_mib ?? NaN],
  ] as const) {
    targets.push(
      atMost(
        12,
        `RSS ${what} <= ${RSS_LIMIT_MIB} MiB (${count(largest?.keys ?? NaN)} keys)`,
        figure,
        RSS_LIMIT_MIB,
        `${fixed(figure, 0)} MiB`,
      ),
    );
  }

  // Issue 12: a big meeting reads and pages like a small one.
  const big = report.big_meeting;
  for (const [what, pair] of [
    ["meetings.get", big?.get],
    ["a page of 20 registrants", big?.page],
    [`the page after ${count(big?.deep_offset ?? NaN)}`, big?.deep_page],
  ] as const) {
    const { ratio, text } = ratioOf(pair);
    targets.push(
      atMost(
        12,
        `${what}: p50 of ${count(big?.registrants ?? NaN)} registrants <= ${SMALL_VS_BIG_LIMIT}x of 50`,
        ratio,
        SMALL_VS_BIG_LIMIT,
        text,
      ),
    );
  }
  targets.push({
    issue: 12,
    target: "per-occurrence counts of the big meeting exact",
    value: big?.counts_found ?? "-",
    met: big?.counts_exact === true,
    score: big?.counts_exact === true ? 1 : 2,
  });

  // Issue 12 (p50) and issue 7 (p99): lists stay flat.
  for (const endpoint of ["registrants.list", "meetings.list"]) {
    const a = scaleRow(report, endpoint, small);
    const b = scaleRow(report, endpoint, large);
    for (const [issue, figure] of [
      [12, "p50_ms"],
      [7, "p99_ms"],
    ] as const) {
      const ratio = a === undefined || b === undefined ? NaN : b[figure] / a[figure];
      targets.push(
        atMost(
          issue,
          `${endpoint} ${figure.slice(0, 3)} with ${count(large)} others <= ${LIST_FLAT_LIMIT}x with ${count(small)}`,
          ratio,
          LIST_FLAT_LIMIT,
          `${fixed(ratio)}x (${fixed(b?.[figure] ?? NaN)} vs ${fixed(a?.[figure] ?? NaN)} ms)`,
        ),
      );
    }
  }

  // Issue 12: many instances cost the server what few do.
  const few = report.instances[0];
  const many = report.instances[report.instances.length - 1];
  if (few !== undefined && many !== undefined && few !== many) {
    // At rest the server's CPU is a few ms a second, counted in ticks of 10 ms: a difference of
    // 2 ms/s is noise however small the base.
    const restLimit = Math.max(few.rest_cpu_ms_per_s * INSTANCES_LIMIT, few.rest_cpu_ms_per_s + 2);
    targets.push(
      atMost(
        12,
        `server CPU at rest, ${many.instances} instances <= ${INSTANCES_LIMIT}x (or +2 ms/s) ${few.instances}`,
        many.rest_cpu_ms_per_s,
        restLimit,
        `${fixed(many.rest_cpu_ms_per_s, 1)} vs ${fixed(few.rest_cpu_ms_per_s, 1)} ms/s`,
      ),
    );
    const perRequest = many.cpu_ms_per_request / few.cpu_ms_per_request;
    targets.push(
      atMost(
        12,
        `server CPU per request, ${many.instances} instances <= ${INSTANCES_LIMIT}x ${few.instances}`,
        perRequest,
        INSTANCES_LIMIT,
        `${fixed(perRequest)}x (${fixed(many.cpu_ms_per_request, 3)} vs ${fixed(few.cpu_ms_per_request, 3)} ms)`,
      ),
    );
  }

  // Issue 12 (and 7 before it): the service against the bare responder at 64 in flight.
  for (const [endpoint, minimum, issue7] of [
    ["meetings.get", 0.85, 0.6],
    ["meetings.create", 0.75, 0.5],
  ] as const) {
    const r = row(report, endpoint, 64);
    const ratio = r?.bare === undefined ? NaN : r.service.rps / r.bare.rps;
    for (const [issue, limit] of [
      [12, minimum],
      [7, issue7],
    ] as const) {
      targets.push(
        atLeast(
          issue,
          `${endpoint} at 64 in flight >= ${limit * 100}% of bare req/s`,
          ratio,
          limit,
          `${fixed(ratio * 100, 0)}%`,
        ),
      );
    }
  }
  const get = row(report, "meetings.get", 64);
  const p99Ratio = get?.bare === undefined ? NaN : get.service.p99_ms / get.bare.p99_ms;
  for (const [issue, limit] of [
    [12, 1.2],
    [7, 1.5],
  ] as const) {
    targets.push(
      atMost(
        issue,
        `meetings.get p99 at 64 in flight <= ${limit}x bare p99`,
        p99Ratio,
        limit,
        `${fixed(p99Ratio)}x (${fixed(get?.service.p99_ms ?? NaN)} vs ${fixed(get?.bare?.p99_ms ?? NaN)} ms)`,
      ),
    );
  }
  targets.push(
    atMost(
      7,
      `service peak RSS over the run < ${PEAK_RSS_LIMIT_MIB} MiB`,
      report.memory.peak_rss_mib,
      PEAK_RSS_LIMIT_MIB,
      `${fixed(report.memory.peak_rss_mib, 0)} MiB`,
    ),
  );

  // Issue 14: verified tokens and cached checks cost little.
  for (const r of report.auth) {
    const [figure, text] =
      r.in_flight === 1
        ? ([
            r.jwt.p50_ms / r.off.p50_ms,
            `p50 ${fixed(r.jwt.p50_ms)} vs ${fixed(r.off.p50_ms)} ms`,
          ] as const)
        : ([
            r.off.rps / r.jwt.rps,
            `${Math.round(r.jwt.rps)} vs ${Math.round(r.off.rps)} req/s`,
          ] as const);
    targets.push(
      atMost(
        14,
        r.in_flight === 1
          ? "meetings.get AUTH_MODE=jwt p50 at 1 in flight within 10% of off"
          : `meetings.get AUTH_MODE=jwt req/s at ${r.in_flight} in flight within 10% of off`,
        figure,
        AUTH_LIMIT,
        `${fixed(figure)}x (${text})`,
      ),
    );
  }
  return targets;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const rate = (r: LoadResult | undefined) =>
  r === undefined ? "" : Math.round(r.rps).toLocaleString("en-US");
const ms = (n: number | undefined) => (n === undefined ? "" : fixed(n));

export function printReport(report: Report): void {
  const m = report.machine;
  const out: string[] = [];
  out.push(
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, Linux ${m.kernel}, Node ${m.node}, nats-server ${m.nats_server}`,
    `load average ${m.load_average.map((l) => fixed(l, 1)).join(" at the start, ")} at the end`,
    `runs of ${report.settings.run_seconds} s; get/create: median of ${report.settings.rounds} alternating rounds; service LOG_LEVEL=${report.settings.log_level}`,
    "",
    table(
      [
        "endpoint",
        "in flight",
        "req/s",
        "p50 ms",
        "p99 ms",
        "bare req/s",
        "bare p50",
        "bare p99",
        "service/bare",
        "errors",
      ],
      report.rows.map((r) => [
        r.endpoint,
        String(r.in_flight),
        rate(r.service),
        ms(r.service.p50_ms),
        ms(r.service.p99_ms),
        rate(r.bare),
        ms(r.bare?.p50_ms),
        ms(r.bare?.p99_ms),
        r.bare === undefined ? "" : `${fixed((r.service.rps / r.bare.rps) * 100, 0)}%`,
        String(r.service.errors + (r.bare?.errors ?? 0)),
      ]),
    ),
    "",
    table(
      ["list (20 items)", "others in bucket", "in flight", "req/s", "p50 ms", "p99 ms", "errors"],
      report.scale.map((r) => [
        r.endpoint,
        r.others.toLocaleString("en-US"),
        String(r.in_flight),
        rate(r),
        ms(r.p50_ms),
        ms(r.p99_ms),
        String(r.errors),
      ]),
    ),
    "",
    table(
      [
        "fresh instance",
        "keys in buckets",
        "PING after s",
        "RSS after start",
        "peak RSS under load",
      ],
      report.startup.map((r) => [
        `with ${count(r.others)} others`,
        count(r.keys),
        Number.isNaN(r.ready_ms) ? "no answer" : fixed(r.ready_ms / 1000, 1),
        `${fixed(r.rss_after_start_mib, 0)} MiB`,
        `${fixed(r.peak_rss_under_load_mib, 0)} MiB`,
      ]),
    ),
    "",
    ...(report.big_meeting === undefined ? [] : [bigMeetingTable(report.big_meeting), ""]),
    table(
      ["instances", "server CPU at rest ms/s", "server CPU ms/request", "fixed load", "errors"],
      report.instances.map((r) => [
        String(r.instances),
        fixed(r.rest_cpu_ms_per_s, 1),
        fixed(r.cpu_ms_per_request, 3),
        `${Math.round(r.load.rps)} req/s`,
        String(r.load.errors),
      ]),
    ),
    "",
    table(
      [
        "meetings.get",
        "in flight",
        "off req/s",
        "off p50",
        "off p99",
        "jwt req/s",
        "jwt p50",
        "jwt p99",
      ],
      report.auth.map((r) => [
        "AUTH_MODE off | jwt",
        String(r.in_flight),
        rate(r.off),
        ms(r.off.p50_ms),
        ms(r.off.p99_ms),
        rate(r.jwt),
        ms(r.jwt.p50_ms),
        ms(r.jwt.p99_ms),
      ]),
    ),
    "",
    `service peak RSS: ${fixed(report.memory.peak_rss_mib, 0)} MiB (RSS at the end ${fixed(report.memory.rss_mib, 0)} MiB)`,
    "",
    table(
      ["target", "figure", "result", "issue"],
      report.targets.map((t) => [t.target, t.value, t.met ? "PASS" : "FAIL", String(t.issue)]),
    ),
  );
  process.stdout.write(`${out.join("\n")}\n`);
}

function bigMeetingTable(big: BigMeetingReport): string {
  const line = (what: string, pair: SmallVsBig) => [
    what,
    ms(pair.small.p50_ms),
    ms(pair.small.p99_ms),
    ms(pair.big.p50_ms),
    ms(pair.big.p99_ms),
    `${fixed(pair.big.p50_ms / pair.small.p50_ms)}x`,
  ];
  return table(
    [
      `1 in flight (big: ${count(big.registrants)} registrants, ${count(big.rsvps)} RSVPs)`,
      "50: p50",
      "p99",
      "big: p50",
      "p99",
      "big/small p50",
    ],
    [
      line("meetings.get", big.get),
      line("registrants.list, first 20", big.page),
      line(`registrants.list, 20 after ${count(big.deep_offset)}`, big.deep_page),
    ],
  );
}

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

interface Bar {
  label: string;
  /** Where the bar ends, on the panel's scale. */
  value: number;
  text: string;
  colour: string;
}

const LABEL_WIDTH = 400;
const CHART_WIDTH = 420;
const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const COLOURS = {
  bare: "#9aa5b1",
  service: "#2f6fb0",
  pass: "#3c9a5f",
  fail: "#c0392b",
  limit: "#222",
};

/**
 * A panel of horizontal bars from `top`: a title, the bars scaled to `max` (longer ones are cut
 * at the edge), and a vertical mark at `limit` when given. Returns the SVG and its height.
 */
function panel(
  top: number,
  title: string,
  bars: readonly Bar[],
  { max, limit, limitLabel }: { max: number; limit?: number; limitLabel?: string },
): { svg: string[]; height: number } {
  const x = (value: number) =>
    LABEL_WIDTH + Math.max(1, Math.min(1, Number.isFinite(value) ? value / max : 1) * CHART_WIDTH);
  const svg = [
    `<text x="10" y="${top + 14}" font-size="13" font-weight="bold">${escape(title)}</text>`,
  ];
  const first = top + 24;
  bars.forEach((bar, i) => {
    const y = first + i * (BAR_HEIGHT + BAR_GAP);
    const end = x(bar.value);
    svg.push(
      `<text x="${LABEL_WIDTH - 8}" y="${y + BAR_HEIGHT - 4}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${(end - LABEL_WIDTH).toFixed(1)}" height="${BAR_HEIGHT}" fill="${bar.colour}"/>`,
      `<text x="${(end + 6).toFixed(1)}" y="${y + BAR_HEIGHT - 4}">${escape(bar.text)}</text>`,
    );
  });
  const bottom = first + bars.length * (BAR_HEIGHT + BAR_GAP);
  if (limit !== undefined) {
    const lx = x(limit).toFixed(1);
    svg.push(
      `<line x1="${lx}" y1="${first - 4}" x2="${lx}" y2="${bottom}" stroke="${COLOURS.limit}" stroke-dasharray="4 3"/>`,
      `<text x="${lx}" y="${bottom + 12}" text-anchor="middle" fill="#555">${escape(limitLabel ?? "")}</text>`,
    );
  }
  return { svg, height: bottom - top + 24 };
}

/**
 * Three panels: requests/s per endpoint at 1 and 64 in flight (bare beside service); a fresh
 * instance's time to `$SRV.PING` at each size of the buckets; every target of issues 12 and 14
 * as its figure over its limit (the dashed line is the limit).
 */
export function renderSvg(report: Report): string {
  const throughput: Bar[] = [];
  for (const r of report.rows) {
    if (r.bare !== undefined) {
      throughput.push({
        label: `${r.endpoint} ×${r.in_flight} bare`,
        value: r.bare.rps,
        text: count(Math.round(r.bare.rps)),
        colour: COLOURS.bare,
      });
    }
    throughput.push({
      label: `${r.endpoint} ×${r.in_flight}`,
      value: r.service.rps,
      text: count(Math.round(r.service.rps)),
      colour: COLOURS.service,
    });
  }
  const startup: Bar[] = report.startup.map((r) => ({
    label: `${count(r.keys)} keys (${count(r.others)} others)`,
    value: r.ready_ms / 1000,
    text: Number.isNaN(r.ready_ms)
      ? "no answer"
      : `${fixed(r.ready_ms / 1000, 1)} s, ${fixed(r.rss_after_start_mib, 0)} MiB after start, ${fixed(r.peak_rss_under_load_mib, 0)} MiB peak`,
    colour: r.ready_ms <= READY_LIMIT_MS ? COLOURS.pass : COLOURS.fail,
  }));
  const targets: Bar[] = report.targets
    .filter((t) => t.issue !== 7)
    .map((t) => ({
      label: `#${t.issue} ${t.target}`.slice(0, 64),
      value: t.score,
      text: `${t.met ? "PASS" : "FAIL"} ${t.value}`.slice(0, 48),
      colour: t.met ? COLOURS.pass : COLOURS.fail,
    }));
  const width = LABEL_WIDTH + CHART_WIDTH + 330;
  const panels = [
    (top: number) =>
      panel(
        top,
        "requests/s at 1 and 64 in flight (×n); grey: the bare responder doing the same KV work",
        throughput,
        { max: Math.max(1, ...throughput.map((b) => b.value)) },
      ),
    (top: number) =>
      panel(top, "a fresh instance: seconds until it answers $SRV.PING", startup, {
        max: Math.max(
          READY_LIMIT_MS / 1000 + 1,
          ...startup.map((b) => (Number.isFinite(b.value) ? b.value : 0)),
        ),
        limit: READY_LIMIT_MS / 1000,
        limitLabel: `${READY_LIMIT_MS / 1000} s`,
      }),
    (top: number) =>
      panel(top, "targets of issues 12 and 14: figure / limit (cut at 3x)", targets, {
        max: 3,
        limit: 1,
        limitLabel: "limit",
      }),
  ];
  const parts: string[] = [];
  let height = 46;
  for (const draw of panels) {
    const drawn = draw(height);
    parts.push(...drawn.svg);
    height += drawn.height + 10;
  }
  return (
    [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
      `<rect width="100%" height="100%" fill="white"/>`,
      `<text x="10" y="20" font-size="14" font-weight="bold">lfx-meeting-service benchmark</text>`,
      `<text x="10" y="38" fill="#555">${escape(`${report.machine.cores} cores, nats-server ${report.machine.nats_server}, Node ${report.machine.node}, ${report.finished_at}`)}</text>`,
      ...parts,
      `</svg>`,
    ].join("\n") + "\n"
  );
}
