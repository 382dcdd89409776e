/**
 * Which `Host` headers `memstats serve` answers, decided from the address it
 * is bound to, before anything else reads the request.
 *
 * DNS rebinding: a web page open in the user's browser makes its own name
 * resolve to this machine, then reads the server as "same origin". Such a
 * request always carries the attacker's name in `Host`. So only hosts that
 * no outsider can point at this machine are answered:
 *
 * - bound to a loopback address (`127.0.0.1`, `127.1`, `::1`, `localhost`):
 *   loopback addresses (`127.x.x.x`, `[::1]`) and `localhost` names;
 * - bound to any other address, including `0.0.0.0` and `::`: any IP
 *   address, `localhost` names, and this machine's host name;
 * - in both cases, the names given with `--allow-host` (a name, or
 *   `.example.com` for every name under it): for a reverse proxy or a DNS
 *   name of the machine.
 *
 * A `Host` that is not a valid host is a 400, one that is not allowed a 403;
 * neither is logged.
 *
 * @module
 */

/** A parsed `Host` header (or URL authority), without its port. */
export interface ParsedHost {
  /** Lower-case name, dotted IPv4, or IPv6 in canonical groups (no brackets). */
  readonly host: string;
  /** What it is. */
  readonly kind: "ipv4" | "ipv6" | "name";
  /** A loopback address, or a `localhost` name. */
  readonly loopback: boolean;
}

const LOCALHOST = /^(localhost|localhost\.localdomain|[a-z0-9_-]+(\.[a-z0-9_-]+)*\.localhost)$/;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** An IPv4 part as WHATWG URL reads it (`0x7f`, `0177`, `127`), or NaN. */
function ipv4Number(part: string): number {
  if (/^0[xX][0-9a-fA-F]*$/.test(part)) return part.length === 2 ? 0 : parseInt(part.slice(2), 16);
  if (/^0[0-7]+$/.test(part)) return parseInt(part.slice(1), 8);
  if (/^(0|[1-9][0-9]*)$/.test(part)) return Number(part);
  return NaN;
}

/**
 * A name whose last label is a number is an IPv4 address to a browser
 * (`127.1`, `0x7f.0.0.1`, `2130706433`): its 32-bit value, `NaN` when it is
 * such a name but not a valid address, undefined when it is a domain name.
 */
function ipv4(host: string): number | undefined {
  const parts = host.split(".");
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  const last = parts[parts.length - 1];
  if (!/^([0-9]+|0[xX][0-9a-fA-F]*)$/.test(last)) return undefined;
  if (parts.length > 4 || parts.some((p) => p === "")) return NaN;
  const nums = parts.map(ipv4Number);
  if (nums.some((n) => Number.isNaN(n))) return NaN;
  const tail = nums.pop()!;
  if (nums.some((n) => n > 255) || tail >= 256 ** (4 - nums.length)) return NaN;
  return nums.reduce((acc, n, i) => acc + n * 256 ** (3 - i), 0) + tail;
}

function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The 8 groups of an IPv6 address (no brackets, no zone), or undefined. */
function ipv6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  let tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const parts = v4[2].split(".").map(Number);
    if (parts.some((p, i) => p > 255 || String(p) !== v4[2].split(".")[i])) return undefined;
    tail = [parts[0] * 256 + parts[1], parts[2] * 256 + parts[3]];
    s = v4[1].endsWith("::") ? v4[1] : v4[1].slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  const known = head.length + rest.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined;
  const zeros = new Array(8 - known).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...zeros, ...rest.map((g) => parseInt(g, 16)), ...tail];
}

/** A host without port, or undefined when it is not a valid host. */
export function parseHostname(text: string): ParsedHost | undefined {
  if (text.startsWith("[")) {
    if (!text.endsWith("]")) return undefined;
    const g = ipv6(text.slice(1, -1));
    if (g === undefined) return undefined;
    const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
    const loopback = (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) || (mapped && g[6] >> 8 === 127);
    return { host: g.map((x) => x.toString(16)).join(":"), kind: "ipv6", loopback };
  }
  const h = text.toLowerCase();
  if (h === "" || h.length > 254 || !/^[a-z0-9._-]+$/.test(h)) return undefined;
  const v4 = ipv4(h);
  if (v4 !== undefined) {
    if (Number.isNaN(v4)) return undefined;
    return { host: dotted(v4), kind: "ipv4", loopback: v4 >>> 24 === 127 };
  }
  const name = h.endsWith(".") ? h.slice(0, -1) : h;
  if (!name.split(".").every((l) => LABEL.test(l))) return undefined;
  return { host: name, kind: "name", loopback: LOCALHOST.test(name) };
}

/**
 * A `Host` header value (`name`, `name:port`, `1.2.3.4:80`, `[::1]:9464`),
 * or undefined when it is not valid.
 *
 * @example
 * ```ts
 * import { parseHostHeader } from "./host.ts";
 * parseHostHeader("[::1]:9464"); // { host: "0:0:0:0:0:0:0:1", kind: "ipv6", loopback: true }
 * parseHostHeader("a b"); // undefined
 * ```
 */
export function parseHostHeader(value: string): ParsedHost | undefined {
  const m = /^(\[[^\]]*\]|[^:\[\]]*)(?::(\d{0,5}))?$/.exec(value);
  if (m === null || (m[2] !== undefined && m[2] !== "" && Number(m[2]) > 65535)) return undefined;
  return parseHostname(m[1]);
}

/** The bound address as a host: IPv6 addresses come unbracketed from `--host`. */
function boundHost(address: string): ParsedHost | undefined {
  return parseHostname(address.includes(":") && !address.startsWith("[") ? `[${address}]` : address);
}

/** Whether `--host address` is a loopback address or name. */
export function isLoopbackAddress(address: string): boolean {
  return boundHost(address)?.loopback === true;
}

/** Which hosts a server answers; see the module documentation. */
export interface HostPolicy {
  /** Whether a request naming `host` is answered. */
  allows(host: ParsedHost): boolean;
  /** What is answered, for a 403's message. */
  readonly description: string;
}

/** An `--allow-host` entry in canonical form, or undefined when it is not a host name or address. */
export function allowHostEntry(entry: string): string | undefined {
  const suffix = entry.startsWith(".");
  const h = parseHostname(suffix ? entry.slice(1) : entry);
  if (h === undefined || (suffix && h.kind !== "name")) return undefined;
  return (suffix ? "." : "") + h.host;
}

/**
 * The host policy of a server bound to `address`, with `allowHosts`
 * (canonical entries, see {@linkcode allowHostEntry}) and this machine's
 * names `ownNames` (used only when not bound to loopback).
 *
 * @example
 * ```ts
 * import { hostPolicy, parseHostHeader } from "./host.ts";
 * const p = hostPolicy("0.0.0.0", [], ["box"]);
 * p.allows(parseHostHeader("box:9464")!); // true
 * p.allows(parseHostHeader("attacker.example")!); // false
 * ```
 */
export function hostPolicy(
  address: string,
  allowHosts: readonly string[],
  ownNames: readonly string[],
): HostPolicy {
  const loopbackOnly = isLoopbackAddress(address);
  const exact = new Set(allowHosts.filter((h) => !h.startsWith(".")));
  const suffixes = allowHosts.filter((h) => h.startsWith("."));
  const own = new Set(
    loopbackOnly ? [] : ownNames.map((n) => parseHostname(n)?.host).filter((n) => n !== undefined),
  );
  const listed = (h: ParsedHost) =>
    exact.has(h.host) || (h.kind === "name" && suffixes.some((s) => h.host.endsWith(s)));
  const extra = allowHosts.length > 0 ? `, or ${allowHosts.join(", ")} (--allow-host)` : "";
  return loopbackOnly
    ? {
      allows: (h) => h.loopback || listed(h),
      description: `loopback addresses and localhost${extra}`,
    }
    : {
      allows: (h) => h.kind !== "name" || h.loopback || own.has(h.host) || listed(h),
      description: `IP addresses, localhost${own.size > 0 ? `, ${[...own].join(", ")}` : ""}${extra}`,
    };
}
