// What a benchmark run reports: the figures, the targets of issue 7 checked against them, a text
// table on stdout, and a hand-written SVG bar chart (no charting dependency).
import type { LoadResult } from "./load.js";

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
  target: string;
  value: string;
  met: boolean;
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
  };
  settings: {
    run_seconds: number;
    rounds: number;
    log_level: string;
    scale_small: number;
    scale_large: number;
  };
  rows: Row[];
  scale: ScaleRow[];
  memory: { peak_rss_mib: number; rss_mib: number };
  /** A fresh instance started against the filled buckets: its key indexes load first. */
  restart?: { ready_ms: number; peak_rss_mib: number };
  targets: Target[];
}

const PEAK_RSS_LIMIT_MIB = 200;

function row(report: Report, endpoint: string, inFlight: number): Row | undefined {
  return report.rows.find((r) => r.endpoint === endpoint && r.in_flight === inFlight);
}

function scaleRow(report: Report, endpoint: string, others: number): ScaleRow | undefined {
  return report.scale.find(
    (r) => r.endpoint === endpoint && r.others === others && r.in_flight === 1,
  );
}

const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** The targets of issue 7, as benchmark figures. */
export function evaluate(report: Report): Target[] {
  const targets: Target[] = [];
  for (const [endpoint, minimum] of [
    ["meetings.get", 0.6],
    ["meetings.create", 0.5],
  ] as const) {
    const r = row(report, endpoint, 64);
    const ratio = r?.bare === undefined ? NaN : r.service.rps / r.bare.rps;
    targets.push({
      target: `${endpoint} at 64 in flight >= ${minimum * 100}% of bare req/s`,
      value: `${fixed(ratio * 100, 0)}%`,
      met: ratio >= minimum,
    });
  }
  const get = row(report, "meetings.get", 64);
  const p99Ratio = get?.bare === undefined ? NaN : get.service.p99_ms / get.bare.p99_ms;
  targets.push({
    target: "meetings.get p99 at 64 in flight <= 1.5x bare p99",
    value: `${fixed(p99Ratio)}x (${fixed(get?.service.p99_ms ?? NaN)} vs ${fixed(get?.bare?.p99_ms ?? NaN)} ms)`,
    met: p99Ratio <= 1.5,
  });
  const { scale_small: small, scale_large: large } = report.settings;
  for (const endpoint of ["registrants.list", "meetings.list"]) {
    const a = scaleRow(report, endpoint, small);
    const b = scaleRow(report, endpoint, large);
    for (const figure of ["p50_ms", "p99_ms"] as const) {
      const ratio = a === undefined || b === undefined ? NaN : b[figure] / a[figure];
      targets.push({
        target: `${endpoint} ${figure.slice(0, 3)} with ${large.toLocaleString("en-US")} others <= 1.5x with ${small.toLocaleString("en-US")}`,
        value: `${fixed(ratio)}x (${fixed(b?.[figure] ?? NaN)} vs ${fixed(a?.[figure] ?? NaN)} ms)`,
        met: ratio <= 1.5,
      });
    }
  }
  targets.push({
    target: `service peak RSS < ${PEAK_RSS_LIMIT_MIB} MiB`,
    value: `${fixed(report.memory.peak_rss_mib, 0)} MiB`,
    met: report.memory.peak_rss_mib < PEAK_RSS_LIMIT_MIB,
  });
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
    `service peak RSS: ${fixed(report.memory.peak_rss_mib, 0)} MiB (RSS at the end ${fixed(report.memory.rss_mib, 0)} MiB)`,
    ...(report.restart === undefined
      ? []
      : [
          `a new instance on the filled buckets: ready after ${fixed(report.restart.ready_ms / 1000, 1)} s, peak RSS ${fixed(report.restart.peak_rss_mib, 0)} MiB`,
        ]),
    "",
    table(
      ["target", "figure", "met"],
      report.targets.map((t) => [t.target, t.value, t.met ? "yes" : "NO"]),
    ),
  );
  process.stdout.write(`${out.join("\n")}\n`);
}

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** Requests/s per endpoint at 1 and 64 in flight, bare beside service where there is one. */
export function renderSvg(report: Report): string {
  const bars: Array<{ label: string; value: number; kind: "bare" | "service" }> = [];
  for (const r of report.rows) {
    if (r.bare !== undefined) {
      bars.push({ label: `${r.endpoint} ×${r.in_flight} bare`, value: r.bare.rps, kind: "bare" });
    }
    bars.push({ label: `${r.endpoint} ×${r.in_flight}`, value: r.service.rps, kind: "service" });
  }
  const barHeight = 16;
  const gap = 6;
  const labelWidth = 230;
  const chartWidth = 520;
  const top = 50;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const height = top + bars.length * (barHeight + gap) + 30;
  const width = labelWidth + chartWidth + 90;
  const colour = { bare: "#9aa5b1", service: "#2f6fb0" };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">lfx-meeting-service: requests/s at 1 and 64 in flight (×n)</text>`,
    `<text x="10" y="38" fill="#555">${escape(`${report.machine.cores} cores, nats-server ${report.machine.nats_server}, Node ${report.machine.node}, ${report.finished_at}`)}</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * (barHeight + gap);
    const w = Math.max(1, (bar.value / max) * chartWidth);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + barHeight - 4}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colour[bar.kind]}"/>`,
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight - 4}">${Math.round(bar.value).toLocaleString("en-US")}</text>`,
    );
  });
  const legendY = height - 12;
  parts.push(
    `<rect x="${labelWidth}" y="${legendY - 10}" width="12" height="12" fill="${colour.service}"/>`,
    `<text x="${labelWidth + 18}" y="${legendY}">service</text>`,
    `<rect x="${labelWidth + 90}" y="${legendY - 10}" width="12" height="12" fill="${colour.bare}"/>`,
    `<text x="${labelWidth + 108}" y="${legendY}">bare responder (same KV work)</text>`,
    `</svg>`,
  );
  return `${parts.join("\n")}\n`;
}
