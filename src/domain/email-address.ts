// What counts as a registrant's or participant's email (docs/CONTRACT.md §5): a mailbox as RFC 5321
// §4.1.2 writes it, with RFC 6531's non-ASCII characters allowed in both parts. Written out from
// the grammar rather than taken from a validator library, which wanted a top-level label of two or
// more letters and so refused `x@y.z`, an address RFC 5321 accepts.
//
// Where the grammar is wider than a meeting invitation can use, the narrower reading is taken
// and documented in docs/ARCHITECTURE.md: a domain name has at least two labels (§2.3.5 permits
// only fully-qualified names) and its last label is not all digits (that is an IPv4 address
// without its brackets); an address literal is an IPv4 or IPv6 address in brackets.

/** RFC 5321 §4.5.3.1: 64 octets of local part, 255 of domain, 256 of path (254 of mailbox). */
const MAX_LOCAL_OCTETS = 64;
const MAX_DOMAIN_OCTETS = 255;
const MAX_MAILBOX_OCTETS = 254;
const MAX_LABEL_OCTETS = 63;

// `atext` (RFC 5322 §3.2.3) plus RFC 6531's UTF8-non-ascii.
const ATOM = String.raw`[A-Za-z0-9!#$%&'*+\-/=?^_\x60{|}~\u0080-\u{10FFFF}]+`;
const DOT_STRING = new RegExp(String.raw`^${ATOM}(?:\.${ATOM})*$`, "u");
// qtextSMTP (%d32-33 / %d35-91 / %d93-126) or quoted-pairSMTP ("\" %d32-126), plus non-ASCII.
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]|\\[\x20-\x7e])*"$/u;
// Let-dig [Ldh-str], with U-labels' non-ASCII letters counted as letters (RFC 6531 §3.3).
const LABEL =
  /^[A-Za-z0-9\u0080-\u{10FFFF}](?:[A-Za-z0-9\-\u0080-\u{10FFFF}]*[A-Za-z0-9\u0080-\u{10FFFF}])?$/u;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

const octets = (text: string): number => Buffer.byteLength(text, "utf8");

export function isEmailAddress(address: string): boolean {
  if (!address.isWellFormed() || octets(address) > MAX_MAILBOX_OCTETS) return false;
  // The local part may be a quoted string holding "@", so the domain starts after the last one.
  const at = address.lastIndexOf("@");
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  return isLocalPart(local) && (isDomainName(domain) || isAddressLiteral(domain));
}

function isLocalPart(local: string): boolean {
  if (octets(local) > MAX_LOCAL_OCTETS) return false;
  return DOT_STRING.test(local) || QUOTED_STRING.test(local);
}

function isDomainName(domain: string): boolean {
  if (domain === "" || octets(domain) > MAX_DOMAIN_OCTETS) return false;
  const labels = domain.split(".");
  if (labels.length < 2) return false;
  if (/^\d+$/.test(labels.at(-1) ?? "")) return false;
  return labels.every((label) => octets(label) <= MAX_LABEL_OCTETS && LABEL.test(label));
}

/** `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3). */
function isAddressLiteral(domain: string): boolean {
  if (!domain.startsWith("[") || !domain.endsWith("]")) return false;
  const literal = domain.slice(1, -1);
  if (IPV4.test(literal)) return true;
  return /^IPv6:/i.test(literal) && isIpv6(literal.slice("IPv6:".length));
}

function isIpv6(text: string): boolean {
  // An IPv4 tail (`::ffff:192.0.2.1`) stands for two groups.
  let groups = text;
  let tailGroups = 0;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    if (!IPV4.test(text.slice(lastColon + 1))) return false;
    groups = text.slice(0, lastColon + 1) + "0";
    tailGroups = 1;
  }
  const halves = groups.split("::");
  if (halves.length > 2) return false;
  const parts = halves.map((half) => (half === "" ? [] : half.split(":")));
  if (!parts.every((list) => list.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g)))) return false;
  const count = parts.reduce((sum, list) => sum + list.length, 0) + tailGroups;
  return halves.length === 2 ? count <= 7 : count === 8;
}
