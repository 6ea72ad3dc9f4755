// Many instances against one nats-server (issue 12): the server's CPU (utime + stime from
// /proc/<pid>/stat) with INSTANCES_FEW (2) and then INSTANCES_MANY (20) service instances, at rest
// over BENCH_CPU_SECONDS and per request under a fixed open-loop load of the same length
// (BENCH_FIXED_RATE requests a second, half lfx.participants.join, a write, and half
// lfx.meetings.get). Whatever an instance keeps up to date from every write (a feed per instance)
// shows as server CPU per request growing with the instances; whatever it polls, at rest.
// Runs first, on buckets that hold little, so that many instances start quickly whatever they
// load at start.
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { call, DAILY, FIRST_JOIN, meetingRequest, occurrence, startedOnTime } from "./fixtures.js";
import { runAtRate, type LoadResult } from "./load.js";
import { progress, summary } from "./measure.js";
import { cpuTimeMsOf, instanceIds, waitIdle, type ChildHandle } from "./processes.js";
import {
  CPU_WINDOW_MS,
  FIXED_RATE_PER_S,
  INSTANCES_FEW,
  INSTANCES_MANY,
  SERVICE_NAME,
  START_TIMEOUT_MS,
} from "./settings.js";

export interface InstancesRow {
  instances: number;
  /** Server CPU at rest: ms of CPU per second. */
  rest_cpu_ms_per_s: number;
  /** Server CPU under the fixed load, per request answered. */
  cpu_ms_per_request: number;
  load: LoadResult;
}

async function waitForInstances(nc: NatsConnection, count: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const answering = (await instanceIds(nc, SERVICE_NAME, 250)).size;
    if (answering >= count) return;
    if (Date.now() > deadline) {
      throw new Error(`${answering} of ${count} instances answer $SRV.PING`);
    }
  }
}

export async function measureInstances(
  nc: NatsConnection,
  { serverPid, spawn }: { serverPid: number; spawn: (name: string) => ChildHandle },
): Promise<InstancesRow[]> {
  progress(`instances: the server's CPU with ${INSTANCES_FEW} and ${INSTANCES_MANY} instances`);
  const { uid: meetingUid } = await call<{ uid: string }>(
    nc,
    "lfx.meetings.create",
    meetingRequest(randomUUID(), DAILY),
  );
  const { uid: pastMeetingUid } = await call<{ uid: string }>(nc, "lfx.past-meetings.start", {
    meeting_uid: meetingUid,
    ...startedOnTime(occurrence(0)),
  });
  const write = {
    subject: "lfx.participants.join",
    body: (i: number) =>
      JSON.stringify({
        past_meeting_uid: pastMeetingUid,
        email: `fan-out.${i}@example.org`,
        first_name: "Grace",
        joined_at: FIRST_JOIN,
      }),
  };
  const read = { subject: "lfx.meetings.get", body: () => JSON.stringify({ uid: meetingUid }) };
  const extras: ChildHandle[] = [];
  const processes = () => [serverPid, ...extras.map((extra) => extra.pid)];
  const rows: InstancesRow[] = [];
  try {
    for (const count of [INSTANCES_FEW, INSTANCES_MANY]) {
      // The run's own instance is one of them.
      while (extras.length < count - 1) extras.push(spawn(`instance-${extras.length + 2}`));
      await waitForInstances(nc, count);
      await waitIdle(processes(), { timeoutMs: 60_000 });
      const restStart = cpuTimeMsOf(serverPid);
      await new Promise((resolve) => setTimeout(resolve, CPU_WINDOW_MS));
      const restCpuMsPerS = (cpuTimeMsOf(serverPid) - restStart) / (CPU_WINDOW_MS / 1000);
      const loadStart = cpuTimeMsOf(serverPid);
      const half = { nc, durationMs: CPU_WINDOW_MS, ratePerS: FIXED_RATE_PER_S / 2 };
      const [writes, reads] = await Promise.all([
        runAtRate({ ...half, ...write }),
        runAtRate({ ...half, ...read }),
      ]);
      // What the load left the server to do after its last reply (feeds of other instances
      // catching up) is the load's too; the rest rate over that wait is not.
      const settledMs = await waitIdle(processes(), { timeoutMs: 60_000 });
      const loadCpuMs = cpuTimeMsOf(serverPid) - loadStart - (restCpuMsPerS * settledMs) / 1000;
      const load: LoadResult = {
        requests: writes.requests + reads.requests,
        errors: writes.errors + reads.errors,
        ...(writes.firstError === undefined && reads.firstError === undefined
          ? {}
          : { firstError: writes.firstError ?? reads.firstError ?? "" }),
        rps: writes.rps + reads.rps,
        p50_ms: Math.max(writes.p50_ms, reads.p50_ms),
        p99_ms: Math.max(writes.p99_ms, reads.p99_ms),
        max_ms: Math.max(writes.max_ms, reads.max_ms),
      };
      const row = {
        instances: count,
        rest_cpu_ms_per_s: restCpuMsPerS,
        cpu_ms_per_request: loadCpuMs / load.requests,
        load,
      };
      rows.push(row);
      progress(
        `  ${count} instances: server CPU at rest ${restCpuMsPerS.toFixed(1)} ms/s, under load ${row.cpu_ms_per_request.toFixed(3)} ms per request (${summary(load)}; slower of join and get)`,
      );
    }
  } finally {
    await Promise.all(extras.map((extra) => extra.stop()));
  }
  return rows;
}
