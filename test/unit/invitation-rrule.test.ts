import { repeatRuleOf } from "../../src/invitations/rrule.js";

const START = "2030-01-31T15:00:00Z";
const ZONE = "America/New_York";

describe("repeatRuleOf", () => {
  test("daily and weekly, with the start's weekday when no days are given", () => {
    expect(repeatRuleOf({ type: 1, repeat_interval: 3, end_times: 4 }, START, ZONE)).toEqual({
      freq: "DAILY",
      interval: 3,
      count: 4,
    });
    // 2030-01-31 is a Thursday in New York.
    expect(repeatRuleOf({ type: 2, repeat_interval: 1 }, START, ZONE)).toEqual({
      freq: "WEEKLY",
      interval: 1,
      byDay: ["TH"],
    });
    expect(
      repeatRuleOf({ type: 2, repeat_interval: 2, weekly_days: "7,1,3" }, START, ZONE),
    ).toEqual({ freq: "WEEKLY", interval: 2, byDay: ["SU", "TU", "SA"] });
  });

  test("monthly: a day, the last day, a clamped day, a weekday by position", () => {
    const monthly = (fields: Record<string, number>) =>
      repeatRuleOf({ type: 3, repeat_interval: 1, ...fields }, START, ZONE);
    expect(monthly({ monthly_day: 12 })).toMatchObject({ byMonthDay: [12] });
    expect(monthly({})).toMatchObject({ byMonthDay: [-1] }); // the start's day, the 31st
    expect(monthly({ monthly_day: 30 })).toMatchObject({
      byMonthDay: [28, 29, 30],
      byDay: ["SU", "MO", "TU", "WE", "TH", "FR", "SA"],
      bySetPos: -1,
    });
    expect(monthly({ monthly_week: -1, monthly_week_day: 6 })).toMatchObject({
      byDay: ["FR"],
      bySetPos: -1,
    });
  });

  test("end_date_time is exclusive, UNTIL inclusive: the second before it", () => {
    const rule = repeatRuleOf(
      { type: 1, repeat_interval: 1, end_date_time: "2030-03-01T00:00:00Z" },
      START,
      ZONE,
    );
    expect(rule.until).toBe(Date.parse("2030-02-28T23:59:59Z"));
  });
});
