import {
  applicableAnswer,
  countsFor,
  groupByRegistrant,
  registrantCount,
  type Answer,
} from "../../src/domain/attendance.js";

const answer = (
  registrant_uid: string,
  scope: Answer["scope"],
  occurrence_id: string | undefined,
  response: Answer["response"],
): Answer => ({ registrant_uid, scope, occurrence_id, response });

describe("registrantCount", () => {
  it("counts registrants of every occurrence plus those of this one", () => {
    const tally = {
      total: 10,
      byOccurrence: new Map([
        ["100", 2],
        ["200", 3],
      ]),
    };
    expect(registrantCount(tally, "100")).toBe(7);
    expect(registrantCount(tally, "200")).toBe(8);
    expect(registrantCount(tally, "300")).toBe(5);
  });
});

describe("applicableAnswer", () => {
  const all = answer("r", "all", undefined, "accepted");
  const from200 = answer("r", "this_and_following", "200", "declined");
  const from300 = answer("r", "this_and_following", "300", "maybe");
  const only250 = answer("r", "single", "250", "accepted");

  it("prefers single, then the latest this_and_following at or before, then all", () => {
    const answers = [all, from200, from300, only250];
    expect(applicableAnswer(answers, "100")).toBe(all);
    expect(applicableAnswer(answers, "200")).toBe(from200);
    expect(applicableAnswer(answers, "250")).toBe(only250);
    expect(applicableAnswer(answers, "260")).toBe(from200);
    expect(applicableAnswer(answers, "300")).toBe(from300);
    expect(applicableAnswer(answers, "900")).toBe(from300);
  });

  it("compares occurrence ids as numbers, not strings", () => {
    const from99 = answer("r", "this_and_following", "99", "declined");
    expect(applicableAnswer([from99], "100")).toBe(from99);
  });

  it("has no answer where none applies", () => {
    expect(applicableAnswer([only250], "100")).toBeUndefined();
    expect(applicableAnswer([from200], "100")).toBeUndefined();
  });
});

describe("countsFor", () => {
  it("counts each registrant once with its applicable answer", () => {
    const answers = groupByRegistrant([
      answer("a", "all", undefined, "accepted"),
      answer("a", "single", "100", "declined"),
      answer("b", "all", undefined, "maybe"),
      answer("c", "this_and_following", "100", "accepted"),
      answer("d", "single", "200", "accepted"),
    ]);
    const tally = { total: 5, byOccurrence: new Map([["200", 1]]) };
    expect(countsFor("100", tally, answers)).toEqual({
      registrant_count: 4,
      response_count_yes: 1,
      response_count_no: 1,
      response_count_maybe: 1,
    });
    expect(countsFor("200", tally, answers)).toEqual({
      registrant_count: 5,
      response_count_yes: 3,
      response_count_no: 0,
      response_count_maybe: 1,
    });
  });
});
