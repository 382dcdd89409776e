/**
 * One shape for "cannot listen" errors from `Deno.serve`, `Bun.serve` and
 * `node:http`, so the core and the CLI can explain them without knowing the
 * runtime.
 *
 * @module
 */
import type { HttpServeOptions, ListenErrorCode } from "./types.ts";

// Deno's error classes by name; Bun and Node set a `code`.
const BY_NAME: Record<string, ListenErrorCode> = {
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  PermissionDenied: "EACCES",
};
const CODES: readonly string[] = ["EADDRINUSE", "EACCES", "EADDRNOTAVAIL"];

/** The error a runtime threw while starting a server, with a {@linkcode ListenErrorCode} when it is one. */
export function listenError(e: unknown, options: HttpServeOptions): unknown {
  if (!(e instanceof Error)) return e;
  const raw = (e as { code?: unknown }).code;
  let code: ListenErrorCode | undefined = typeof raw === "string" && CODES.includes(raw)
    ? raw as ListenErrorCode
    : BY_NAME[e.name];
  if (code === undefined && /lookup address|Name or service not known|getaddrinfo/i.test(e.message)) {
    code = "EADDRNOTAVAIL";
  }
  if (code === undefined) return e;
  const where = `${options.hostname}:${options.port}`;
  const what = code === "EADDRINUSE"
    ? `port ${options.port} is already in use`
    : code === "EACCES"
    ? `not permitted to listen on ${where}`
    : `${options.hostname} is not an address of this machine`;
  const out = new Error(`${what} (${e.message})`, { cause: e });
  (out as Error & { code: ListenErrorCode }).code = code;
  return out;
}
