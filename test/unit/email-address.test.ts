import fc from "fast-check";
import { isEmailAddress } from "../../src/domain/email-address.js";

describe("isEmailAddress (RFC 5321, RFC 6531)", () => {
  it.each([
    "x@y.z",
    "a@b.co",
    "first.last@example.org",
    "a+tag@sub.example.org",
    "#!$%&'*+-/=?^_`{|}~@example.org",
    '"a b.c"@example.org',
    '"at@inside"@example.org',
    '"quoted\\"pair"@example.org',
    "ü.ñ@exämple.org",
    "用户@例子.广告",
    "a@x-y.z9",
    "a@[192.0.2.1]",
    "a@[IPv6:2001:db8::1]",
    "a@[IPv6:::ffff:192.0.2.1]",
    `${"l".repeat(64)}@example.org`,
  ])("accepts %s", (address) => {
    expect(isEmailAddress(address)).toBe(true);
  });

  it.each([
    "",
    "plain",
    "@example.org",
    "a@",
    "a@b",
    "a@localhost",
    "a@1.2.3.4",
    "a@example.123",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a b@example.org",
    "a@exa mple.org",
    "a@-example.org",
    "a@example-.org",
    "a@example..org",
    "a@.example.org",
    "a@example.org.",
    "a@b@example.org",
    '"unterminated@example.org',
    "a@[300.0.0.1]",
    "a@[IPv6:1::2::3]",
    "a@[example.org]",
    "a\u0000b@example.org",
    "a\uD800@example.org",
    `${"l".repeat(65)}@example.org`,
    `a@${"d".repeat(64)}.org`,
    `a@${Array.from({ length: 60 }, () => "abcd").join(".")}.org`,
  ])("refuses %j", (address) => {
    expect(isEmailAddress(address)).toBe(false);
  });

  it("accepts every dot-atom local part at a short domain", () => {
    const atext = fc.constantFrom(..."abcXYZ019!#$%&'*+-/=?^_`{|}~".split(""));
    const atom = fc.string({ unit: atext, minLength: 1, maxLength: 8 });
    const local = fc.array(atom, { minLength: 1, maxLength: 4 }).map((atoms) => atoms.join("."));
    fc.assert(fc.property(local, (l) => isEmailAddress(`${l}@y.z`)));
  });

  it("refuses any address with a control character or a space outside quotes", () => {
    const bad = fc.constantFrom(" ", "\t", "\n", "\u0000", "\u007f", "(", ")", ",", ";", "<", ">");
    fc.assert(
      fc.property(bad, fc.nat({ max: 5 }), (c, at) => {
        const local = "abcdef".slice(0, at) + c + "abcdef".slice(at);
        return !isEmailAddress(`${local}@example.org`);
      }),
    );
  });
});
