/**
 * Output for the CLI. Everything is written with `writeSync`, so nothing is
 * lost when the command exits right after printing (an async stream write
 * to a pipe may still be pending at `process.exit`), and a closed pipe
 * (`memstats show | head -1`) ends the command quietly.
 *
 * @module
 */
import { writeSync } from "node:fs";

/** Thrown when the reader of our output went away; main exits 0 quietly. */
export class BrokenPipe extends Error {
  constructor() {
    super("broken pipe");
    this.name = "BrokenPipe";
  }
}

const encoder = new TextEncoder();

/** Write all of `text` to file descriptor `fd`. */
export function writeAll(fd: number, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  let spins = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
      spins = 0;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EPIPE") throw new BrokenPipe();
      // A non-blocking descriptor whose reader is slow: wait briefly and retry.
      if (code === "EAGAIN" && spins++ < 10_000) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      throw e;
    }
  }
}

/** Write to stdout. */
export function out(text: string): void {
  writeAll(1, text);
}

/** Write to stderr. */
export function err(text: string): void {
  writeAll(2, text);
}
