// The access checker (src/auth/access-check.ts) over a platform played by a function: one message
// per batch, answers in any order, cached for at most 10 s, a check left unanswered is a denial.
import { AccessChecker, CACHE_MS, parseAnswer } from "../../src/auth/access-check.js";
import { meetingRelation } from "../../src/auth/access.js";

function platform(granted: Set<string>) {
  const asked: string[][] = [];
  const ask = (text: string) => {
    const lines = text.split("\n");
    asked.push(lines);
    return Promise.resolve(
      lines
        .filter((line) => !line.includes("#unanswered"))
        .map((line) => `${line}\t${granted.has(line)}`)
        .reverse()
        .join("\n"),
    );
  };
  return { ask, asked };
}

test("asks for a whole batch in one message and answers in the caller's order", async () => {
  const granted = new Set(["meeting:b#viewer@user:u1"]);
  const { ask, asked } = platform(granted);
  const checker = new AccessChecker(ask);
  const relations = ["a", "b", "c"].map((uid) => meetingRelation(uid, "viewer"));
  expect(await checker.check("u1", relations)).toEqual([false, true, false]);
  expect(asked).toEqual([
    ["meeting:a#viewer@user:u1", "meeting:b#viewer@user:u1", "meeting:c#viewer@user:u1"],
  ]);
});

test("answers are kept for at most CACHE_MS (10 s), per caller", async () => {
  const granted = new Set(["meeting:m#organizer@user:u1"]);
  const { ask, asked } = platform(granted);
  let now = 0;
  const checker = new AccessChecker(ask, () => now);
  const organizer = meetingRelation("m", "organizer");
  expect(CACHE_MS).toBeLessThanOrEqual(10_000);

  expect(await checker.check("u1", [organizer])).toEqual([true]);
  granted.clear();
  now = CACHE_MS - 1;
  expect(await checker.check("u1", [organizer])).toEqual([true]);
  expect(asked).toHaveLength(1);
  expect(await checker.check("u2", [organizer])).toEqual([false]);
  expect(asked).toHaveLength(2);

  now = CACHE_MS;
  expect(await checker.check("u1", [organizer])).toEqual([false]);
  expect(asked).toHaveLength(3);
});

test("only what is not cached is asked; an unanswered check is denied and asked again", async () => {
  const { ask, asked } = platform(new Set(["meeting:a#viewer@user:u"]));
  const checker = new AccessChecker(ask, () => 0);
  await checker.check("u", [meetingRelation("a", "viewer")]);
  const unanswered = { object: "meeting:x", relation: "unanswered" };
  expect(await checker.check("u", [meetingRelation("a", "viewer"), unanswered])).toEqual([
    true,
    false,
  ]);
  expect(await checker.check("u", [unanswered])).toEqual([false]);
  expect(asked).toEqual([
    ["meeting:a#viewer@user:u"],
    ["meeting:x#unanswered@user:u"],
    ["meeting:x#unanswered@user:u"],
  ]);
});

test("a failed ask fails the check (the adapter answers 503) and caches nothing", async () => {
  let fail = true;
  const checker = new AccessChecker(
    (text) =>
      fail ? Promise.reject(new Error("no responders")) : Promise.resolve(`${text}\ttrue`),
    () => 0,
  );
  await expect(checker.check("u", [meetingRelation("m", "viewer")])).rejects.toThrow();
  fail = false;
  expect(await checker.check("u", [meetingRelation("m", "viewer")])).toEqual([true]);
});

test("checks asked while the same check is on its way wait for its answer instead of asking again", async () => {
  const pending: ((answer: string) => void)[] = [];
  const asked: string[] = [];
  const checker = new AccessChecker(
    (text) => {
      asked.push(text);
      return new Promise((resolve) => pending.push(resolve));
    },
    () => 0,
  );
  const viewer = meetingRelation("m", "viewer");
  const first = checker.check("u", [viewer]);
  const second = checker.check("u", [viewer, viewer]);
  const other = checker.check("u", [viewer, meetingRelation("n", "viewer")]);
  expect(asked).toEqual(["meeting:m#viewer@user:u", "meeting:n#viewer@user:u"]);
  pending[0]?.("meeting:m#viewer@user:u\ttrue");
  pending[1]?.("meeting:n#viewer@user:u\tfalse");
  expect(await Promise.all([first, second, other])).toEqual([[true], [true, true], [true, false]]);
  // Answered and cached: nothing is asked again, and nothing is left waiting.
  expect(await checker.check("u", [viewer])).toEqual([true]);
  expect(asked).toHaveLength(2);
});

test("a failed ask fails every check that waited for it, and the next one asks again", async () => {
  let fail = true;
  let asks = 0;
  const checker = new AccessChecker(
    async (text) => {
      asks += 1;
      await Promise.resolve();
      if (fail) throw new Error("no responders");
      return `${text}\ttrue`;
    },
    () => 0,
  );
  const viewer = meetingRelation("m", "viewer");
  const results = await Promise.allSettled([
    checker.check("u", [viewer]),
    checker.check("u", [viewer]),
  ]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  expect(asks).toBe(1);
  fail = false;
  expect(await checker.check("u", [viewer])).toEqual([true]);
  expect(asks).toBe(2);
});

test("parseAnswer ignores lines that are not `<check>\\t<true|false>`", () => {
  expect(
    parseAnswer("meeting:a#viewer@user:u\ttrue\r\ngarbage\nmeeting:b#viewer@user:u\tmaybe\n\n"),
  ).toEqual(new Map([["meeting:a#viewer@user:u", true]]));
});
