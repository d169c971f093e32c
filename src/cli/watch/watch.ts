/**
 * `aviary get SERVICE --watch`: reads the service every interval (and at once when the event
 * stream says something happened), then redraws the live view (a terminal), prints a frame
 * whenever it changes (not a terminal), or prints the service view as one JSON / YAML document
 * per change (`-o json|yaml`). A server that goes away is retried for as long as the watch
 * runs; the view says so meanwhile.
 *
 * @module
 */

import { ServerClock } from "../../util/server-clock.js";
import { type ApiClient, UnreachableError } from "../client.js";
import { EXIT } from "../exit.js";
import type { ServiceView } from "../format.js";
import { formatData, type OutputFormat } from "../options.js";
import { type ConnectionState, renderWatchText, type WatchState } from "./render.js";
import { Screen } from "./screen.js";
import { WatchSource } from "./source.js";
import { ChangeStream } from "./stream.js";

export interface WatchOptions {
  client: ApiClient;
  service: string;
  intervalMs: number;
  /** End when the rollout is Healthy (exit 0) or Aborted (exit 1). */
  exitOnFinish: boolean;
  output: OutputFormat;
  color: boolean;
  out?: NodeJS.WriteStream;
}

/** Runs the watch; resolves with the exit code when it ends by itself (--exit-on-finish). */
export async function watchService(opts: WatchOptions): Promise<number> {
  const clock = new ServerClock();
  const source = new WatchSource(opts.client, opts.service, clock);
  const out = opts.out ?? process.stdout;
  // The first read must work: a wrong address or service name is an error, not a view.
  let state: WatchState = { ...(await source.read()), connection: { ok: true } };
  const mode: "data" | "screen" | "frames" =
    opts.output !== "text" ? "data" : out.isTTY ? "screen" : "frames";
  // A reader that went away (`| head -1`) ends the watch quietly.
  out.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });

  let lastPrinted = "";
  const screen = mode === "screen" ? new Screen({ out, onResize: () => show() }) : undefined;
  const show = () => {
    if (mode === "data") {
      const doc = formatData(opts.output as "json" | "yaml", state.view);
      if (doc === lastPrinted) return;
      lastPrinted = doc;
      // One JSON document per line (NDJSON); YAML documents separated by `---`.
      out.write(opts.output === "json" ? `${JSON.stringify(state.view)}\n` : `---\n${doc}`);
      return;
    }
    const width = screen ? screen.width : Math.max(40, (out.columns || 120) - 1);
    const lines = renderWatchText(state, {
      width,
      now: clock.now(Date.now()),
      color: mode === "screen" && opts.color,
    });
    if (screen) return screen.draw(lines);
    // Not a terminal: a frame only when something other than the clock changed.
    const frame = lines.join("\n");
    const key = frame.replace(/\d+(ms|s|m|h)\b|\d\d:\d\d:\d\d/g, "");
    if (key === lastPrinted) return;
    lastPrinted = key;
    out.write(`${frame}\n\n`);
  };

  // Without a screen to show it, a lost connection is said once on stderr.
  let lostNotice = false;
  let nextRead = Date.now() + opts.intervalMs;
  let wake: (() => void) | undefined;
  const changes = new ChangeStream(opts.client, opts.service, () => {
    nextRead = Date.now();
    wake?.();
  });
  screen?.start();
  changes.start();
  try {
    for (;;) {
      show();
      const code = finished(state.view);
      if (opts.exitOnFinish && code !== undefined) return code;
      const wait = Math.max(0, Math.min(1_000, nextRead - Date.now()));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (Date.now() < nextRead) continue; // only the countdown moves
      nextRead = Date.now() + opts.intervalMs;
      try {
        state = { ...(await source.read()), connection: { ok: true } };
        if (lostNotice) {
          process.stderr.write("aviary: connection back\n");
          lostNotice = false;
        }
      } catch (err) {
        state = { ...state, connection: lost(state.connection, err, clock.now(Date.now())) };
        if (mode === "data" && !lostNotice) {
          process.stderr.write(`aviary: ${banner(state.connection)}\n`);
          lostNotice = true;
        }
      }
    }
  } finally {
    changes.stop();
    screen?.stop();
  }
}

function lost(previous: ConnectionState, err: unknown, now: number): ConnectionState {
  const unreachable = err instanceof UnreachableError;
  return {
    ok: false,
    unreachable,
    since: previous.ok ? now : previous.since,
    error: unreachable ? err.reason : err instanceof Error ? err.message : String(err),
  };
}

function banner(c: ConnectionState): string {
  if (c.ok) return "";
  return `${c.unreachable ? "connection lost" : "cannot read the service"}, retrying…: ${c.error}`;
}

/** The exit code for a finished rollout, or undefined while it runs. */
function finished(view: ServiceView): number | undefined {
  const r = view.rollout;
  if (r === null || r.phase === "Healthy") return EXIT.ok;
  if (r.phase === "Aborted") return EXIT.failed;
  return undefined;
}
