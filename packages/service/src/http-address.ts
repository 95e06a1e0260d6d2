/**
 * The unit a per-source connection cap is charged to: the socket's remote address as the server
 * saw it (never a client header such as X-Forwarded-For). IPv4 (and IPv4-mapped IPv6) counts per
 * address; IPv6 per /64, because one host usually holds a whole /64. Same rule as
 * @tkdb/noise's address.ts, so a connection and its Noise budget are charged to the same source.
 */
const IPV4_RE = /^(?:\d{1,3}\.){3}\d{1,3}$/;

/** "unknown" when there is no address: every such caller shares one bucket. */
export function addressBucket(remoteAddress: string | undefined | null): string {
  if (typeof remoteAddress !== "string" || remoteAddress === "") return "unknown";
  let a = remoteAddress.trim().toLowerCase();
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  if (a.startsWith("::ffff:") && IPV4_RE.test(a.slice(7))) return a.slice(7);
  if (IPV4_RE.test(a)) return a;
  if (!a.includes(":")) return "unknown";
  const groups = expandIpv6(a);
  return groups === null ? "unknown" : `${groups.slice(0, 4).join(":")}::/64`;
}

/** Eight 16-bit groups in lowercase hex without leading zeros, or null when not IPv6 text. */
function expandIpv6(a: string): string[] | null {
  const halves = a.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string): string[] | null => {
    if (s === "") return [];
    const parts = s.split(":");
    for (const p of parts) if (!/^[0-9a-f]{1,4}$/.test(p)) return null;
    return parts.map((p) => Number.parseInt(p, 16).toString(16));
  };
  const head = parse(halves[0] ?? "");
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...Array<string>(missing).fill("0"), ...tail];
}
