/**
 * The terminal while `get --watch` draws: the alternate screen with the cursor hidden, each
 * frame written from the top-left corner over the previous one (absolute positioning, so a
 * stray keystroke or warning cannot shift it), keys read raw so typing does not echo into the
 * view. Whatever ends the process — `q`, Ctrl-C, SIGINT, SIGTERM, SIGHUP, an exception — gives
 * the terminal back as it was and leaves the last frame on the normal screen.
 *
 * @module
 */

import { writeSync } from "node:fs";

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE = "\x1b[?25h\x1b[?1049l";
const CTRL_C = 0x03;

/** Exit codes for the signals that end a watch: 128 + the signal's number, as shells report. */
const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

export interface ScreenOptions {
  out?: NodeJS.WriteStream;
  input?: NodeJS.ReadStream;
  /** Called when the terminal was resized (draw again). */
  onResize?: () => void;
}

export class Screen {
  readonly #out: NodeJS.WriteStream;
  readonly #input: NodeJS.ReadStream;
  readonly #onResize: () => void;
  #active = false;
  #raw = false;
  #last: string[] = [];
  readonly #handlers: Array<[string, (...args: unknown[]) => void]> = [];

  constructor(opts: ScreenOptions = {}) {
    this.#out = opts.out ?? process.stdout;
    this.#input = opts.input ?? process.stdin;
    this.#onResize = opts.onResize ?? (() => {});
  }

  /** Columns available to a line (one fewer than the terminal's, so no line ever wraps). */
  get width(): number {
    return Math.max(20, (this.#out.columns || 80) - 1);
  }

  get height(): number {
    return Math.max(5, this.#out.rows || 24);
  }

  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#write(ENTER);
    const on = (event: string, fn: (...args: unknown[]) => void) => {
      process.on(event as NodeJS.Signals, fn);
      this.#handlers.push([event, fn]);
    };
    on("exit", () => this.stop());
    for (const [signal, code] of Object.entries(SIGNAL_EXIT)) on(signal, () => this.#quit(code));
    on("SIGWINCH", () => {
      this.#write("\x1b[H\x1b[2J");
      this.#onResize();
    });
    if (this.#input.isTTY) {
      this.#input.setRawMode(true);
      this.#raw = true;
      this.#input.on("data", this.#onKey);
      this.#input.resume();
    }
  }

  /** Draws a frame: at most `height` lines, each already fitted to `width`. */
  draw(lines: string[]): void {
    if (!this.#active) return;
    const height = this.height;
    let frame = lines;
    if (lines.length > height) {
      frame = lines.slice(0, height - 1);
      frame.push(`… ${lines.length - frame.length} more lines: make the terminal taller`);
    }
    this.#last = lines;
    this.#write(`\x1b[H${frame.map((l) => `${l}\x1b[K`).join("\r\n")}\x1b[J`);
  }

  /** Gives the terminal back and prints the last frame on the normal screen. */
  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    for (const [event, fn] of this.#handlers) process.removeListener(event, fn);
    this.#handlers.length = 0;
    if (this.#raw) {
      this.#input.removeListener("data", this.#onKey);
      try {
        this.#input.setRawMode(false);
      } catch {
        // the terminal is gone already
      }
      this.#input.pause();
      this.#raw = false;
    }
    this.#write(LEAVE);
    if (this.#last.length > 0) this.#write(`${this.#last.join("\n")}\n`);
  }

  readonly #onKey = (chunk: Buffer) => {
    if (chunk.includes(CTRL_C)) this.#quit(SIGNAL_EXIT.SIGINT as number);
    else if (chunk.includes(0x71 /* q */)) this.#quit(0);
  };

  #quit(code: number): never {
    this.stop();
    process.exit(code);
  }

  /** Synchronous, so the terminal is restored even when the process exits right after. */
  #write(text: string): void {
    const fd = (this.#out as { fd?: number }).fd;
    if (typeof fd === "number") {
      try {
        writeSync(fd, text);
      } catch {
        // stdout closed: nothing left to restore
      }
    } else this.#out.write(text);
  }
}
