/**
 * Deno's permission failures as `MemstatsError`s. Under Deno without `-A`,
 * every file, environment, process and FFI access can be refused with
 * `Deno.errors.NotCapable` (or `PermissionDenied`, from older releases and
 * from the operating system's prompt being declined). Such an error becomes
 * a `PERMISSION` error that names the exact flag to add, and the flags the
 * whole use needs, so that one run with the listed flags works.
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";

/** Whether `e` is a Deno permission refusal (not an operating-system EACCES). */
export function isDenoPermissionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const errors = (globalThis as { Deno?: { errors?: Record<string, unknown> } }).Deno?.errors;
  for (const name of ["NotCapable", "PermissionDenied"]) {
    const cls = errors?.[name];
    if (typeof cls === "function" && e instanceof (cls as new () => Error)) {
      // Deno's node:fs also raises PermissionDenied for an operating-system EACCES: those carry a code.
      return name === "NotCapable" || /^Requires \w+ access/.test(e.message);
    }
  }
  return e.name === "NotCapable";
}

/**
 * The flag Deno asks for in a refusal message such as
 * `Requires read access to "/x", run again with the --allow-read flag`:
 * `--allow-read=/x`. Undefined when the message says nothing usable.
 */
export function flagFor(message: string): string | undefined {
  const m = /Requires (\w+) access(?: to "([^"]*)")?/.exec(message);
  if (!m) return undefined;
  const kind = m[1];
  const what = m[2];
  // --allow-ffi must be unscoped: Deno.UnsafePointerView needs it.
  if (kind === "ffi") return "--allow-ffi";
  // Device paths such as /dev/shm: Deno grants them only with every permission.
  if (kind === "all") return "-A";
  return what ? `--allow-${kind}=${what}` : `--allow-${kind}`;
}

/**
 * Convert a Deno permission refusal into a `PERMISSION` error; any other
 * value is returned unchanged. `doing` says what was being done ("loading
 * the native shim"), `needed` lists every flag that use needs.
 */
export function permissionError(e: unknown, doing: string, needed: readonly string[] = []): unknown {
  if (e instanceof MemstatsError || !isDenoPermissionError(e)) return e;
  const message = (e as Error).message;
  const flag = flagFor(message);
  const all = needed.length > 0 ? `; this use needs ${needed.join(" ")} (or -A)` : "";
  return new MemstatsError(
    "PERMISSION",
    `Deno refused ${doing}: ${message.split(",")[0]}; run again with ${flag ?? "the flag it names"}${all}. ` +
      `See the README's "Deno permissions"`,
  );
}
