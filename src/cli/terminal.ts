/**
 * A full-screen session on the terminal, like `top`: the alternate screen,
 * a hidden cursor, raw keyboard input, and frames drawn in place. Whatever
 * ends the session (a key, a signal, an error), `close()` puts the
 * terminal back exactly as it was: main screen, cursor shown, cooked mode.
 *
 * @module
 */
import process from "node:process";
import { charWidth } from "../report_text.ts";
import { out } from "./io.ts";

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE = "\x1b[0m\x1b[?25h\x1b[?1049l";
// deno-lint-ignore no-control-regex
const ESCAPE = /^\x1b\[[0-9;?]*[A-Za-z]/;

/**
 * Cut `line` to `width` terminal columns: escape sequences take no room, a
 * wide (CJK) character two, a combining mark none. A wide character that
 * would straddle the edge is left out. A cut line ends with a style reset
 * so no colour leaks into the next one.
 */
export function fitLine(line: string, width: number): string {
  let visible = 0;
  let i = 0;
  while (i < line.length) {
    const esc = line[i] === "\x1b" ? ESCAPE.exec(line.slice(i)) : null;
    if (esc) {
      i += esc[0].length;
      continue;
    }
    const cp = line.codePointAt(i)!;
    const w = charWidth(cp);
    if (visible + w > width) return line.slice(0, i) + "\x1b[0m";
    i += cp > 0xffff ? 2 : 1;
    visible += w;
  }
  return line;
}

/** An open full-screen session. */
export interface Screen {
  /** Terminal width in columns. */
  readonly columns: number;
  /** Terminal height in rows. */
  readonly rows: number;
  /** Replace the screen's contents with `lines` (cut to fit). */
  draw(lines: readonly string[]): void;
  /** Restore the terminal; idempotent. */
  close(): void;
}

/** Enter full-screen mode; `onKey` receives each key press (raw mode, so Ctrl-C arrives as `"\x03"`). */
export function openScreen(onKey: (key: string) => void): Screen {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === "function";
  let closed = false;
  const onData = (d: Uint8Array | string) => {
    for (const ch of typeof d === "string" ? d : new TextDecoder().decode(d)) onKey(ch);
  };
  out(ENTER);
  if (raw) {
    stdin.setRawMode(true);
    stdin.on("data", onData);
    stdin.resume();
  }
  return {
    get columns() {
      return process.stdout.columns || 80;
    },
    get rows() {
      return process.stdout.rows || 24;
    },
    draw(lines) {
      const w = this.columns;
      const shown = lines.slice(0, this.rows);
      // Home, then each line followed by clear-to-end-of-line: no flicker, no scrolling.
      out("\x1b[H" + shown.map((l) => fitLine(l, w) + "\x1b[K").join("\r\n") + "\x1b[J");
    },
    close() {
      if (closed) return;
      closed = true;
      // Cooked mode first and whatever fails: the screen sequences below need a writable stdout.
      if (raw) {
        try {
          stdin.off("data", onData);
          stdin.setRawMode(false);
          stdin.pause();
        } catch { /* stdin is gone: nothing more can be done for its mode */ }
      }
      out(LEAVE);
    },
  };
}
