// The `lfx-meetings` command (client/src/cli.ts) against a running service: pretty JSON out, the
// error body on stderr, and the documented exit code of each outcome.
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { meetingInput } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const harness = useServiceHarness();

beforeAll(() => {
  // The command as built from the current source, not whatever client/dist holds.
  execFileSync("npx", ["tsc", "-p", "client/tsconfig.json"], { cwd: ROOT, stdio: "ignore" });
}, 120_000);

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "node",
      ["client/bin/lfx-meetings.js", ...args],
      { cwd: ROOT, env: { ...process.env, NATS_URL: harness.server.url }, timeout: 20_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr }),
    );
  });
}

it("creates and gets a meeting, printing pretty JSON", async () => {
  const input = JSON.stringify(meetingInput({ title: "From the CLI" }));
  const created = await cli("lfx.meetings.create", input, "--idempotency-key", "cli-test-1");
  expect([created.code, created.stderr]).toEqual([0, ""]);
  expect(created.stdout).toMatch(/^\{\n {2}"/);
  const meeting = JSON.parse(created.stdout) as { uid: string; title: string };
  expect(meeting.title).toBe("From the CLI");

  // A retry with the same key gets the first reply (docs/CONTRACT.md §3).
  const again = await cli("lfx.meetings.create", input, "--idempotency-key", "cli-test-1");
  expect((JSON.parse(again.stdout) as { uid: string }).uid).toBe(meeting.uid);

  const got = await cli(
    "meetings.get",
    JSON.stringify({ uid: meeting.uid }),
    "--server",
    harness.server.url,
  );
  expect(got.code).toBe(0);
  expect(JSON.parse(got.stdout)).toEqual(JSON.parse(again.stdout));

  const stale = await cli(
    "lfx.meetings.delete",
    JSON.stringify({ uid: meeting.uid, revision: 999 }),
  );
  expect(stale.code).toBe(7);
  expect(JSON.parse(stale.stderr)).toMatchObject({ error: { status: 409, code: "conflict" } });
});

it("follows every page of a list with --all", async () => {
  const project = "0b6c7e38-2f43-4d8e-9a0c-3b1d5e7f9a21";
  for (let i = 0; i < 3; i += 1) {
    expect(
      (await cli("lfx.meetings.create", JSON.stringify(meetingInput({ project_uid: project }))))
        .code,
    ).toBe(0);
  }
  const all = await cli(
    "lfx.meetings.list",
    JSON.stringify({ project_uid: project, limit: 2 }),
    "--all",
  );
  expect(all.code).toBe(0);
  expect(JSON.parse(all.stdout)).toHaveLength(3);
});

it.each([
  ["not_found", 6, ["lfx.meetings.get", '{"uid":"noSuchMeeting"}']],
  ["invalid_request", 3, ["lfx.meetings.get", '{"uid":"x","colour":"red"}']],
])("exits with the code of %s and prints the error body on stderr", async (code, exit, args) => {
  const result = await cli(...args);
  expect(result.code).toBe(exit);
  expect(result.stdout).toBe("");
  expect(JSON.parse(result.stderr)).toMatchObject({ error: { code } });
});

it("refuses usage errors with exit 2 before connecting, and prints help", async () => {
  for (const args of [
    [],
    ["lfx.nope.get"],
    ["lfx.meetings.get", "{nope"],
    ["lfx.meetings.get", "--colour"],
    ["lfx.meetings.get", "{}", "--all"],
  ]) {
    const result = await cli(...args);
    expect([args, result.code]).toEqual([args, 2]);
    expect(result.stderr).toMatch(/^lfx-meetings: /);
  }
  const help = await cli("--help");
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("lfx.meetings.create");
  expect(help.stdout).toContain("exit codes: 0 ok");
});

it("exits 11 when no server answers at --server", async () => {
  const result = await cli("lfx.meetings.get", '{"uid":"x"}', "--server", "nats://127.0.0.1:1");
  expect(result.code).toBe(11);
});
