/**
 * `--wait` for the verbs that set a rollout going (deploy, promote, resume, retry): follow it
 * until it is Healthy, Aborted or waiting for a person, printing a line for each step change.
 * On a terminal a spinner line below them shows the elapsed time and any countdown. Exit 0 when
 * Healthy or waiting, 1 when Aborted (the reason on stderr), superseded or out of time.
 *
 * @module
 */

import type { Rollout } from "../rollout/types.js";
import { formatDuration } from "../util/duration.js";
import { ServerClock } from "../util/server-clock.js";
import { type ApiClient, UnreachableError } from "./client.js";
import { EXIT } from "./exit.js";
import type { ServiceView } from "./format.js";
import { personHint, timedWait, waitsFor } from "./watch/status.js";

export interface FollowOptions {
  client: ApiClient;
  service: string;
  /** The rollout the command acted on, as its answer showed it. */
  rollout: Rollout;
  intervalMs: number;
  /** Give up (exit 1) after this long; undefined: wait as long as it takes. */
  timeoutMs?: number | undefined;
  /** Progress lines go here (stderr when stdout carries JSON or YAML). */
  out: NodeJS.WriteStream;
  /** Give up (exit 3) when the server has been unreachable this long. */
  unreachableMs?: number;
}

export interface FollowResult {
  code: number;
  rollout: Rollout;
}

/** The line for a rollout that moved on from `prev` (undefined: the first line), or undefined when nothing a reader cares about changed. */
export function changeLine(prev: Rollout | undefined, r: Rollout): string | undefined {
  if (
    prev !== undefined &&
    prev.stepIndex === r.stepIndex &&
    prev.phase === r.phase &&
    prev.traffic.weight === r.traffic.weight &&
    prev.pausedAt === r.pausedAt &&
    prev.reason === r.reason
  )
    return undefined;
  const at = new Date(r.updatedAt).toISOString().slice(11, 19);
  const weight = r.traffic.canary !== null ? `${r.traffic.weight}%` : "";
  return `${at}  ${r.phase.padEnd(11)} ${weight.padStart(4)}  ${r.reason}`;
}

/** Whether following can stop: Healthy, Aborted, or waiting for a person. */
export function settled(r: Rollout): "healthy" | "aborted" | "waiting" | undefined {
  if (r.phase === "Healthy") return "healthy";
  if (r.phase === "Aborted") return "aborted";
  return waitsFor(r) !== undefined ? "waiting" : undefined;
}

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

export async function followRollout(opts: FollowOptions): Promise<FollowResult> {
  const { client, service, out } = opts;
  const clock = new ServerClock();
  const tty = out.isTTY === true;
  const started = Date.now();
  const path = `/api/v1/services/${encodeURIComponent(service)}`;
  let current = opts.rollout;
  let unreachableSince: number | undefined;
  let frame = 0;
  let spinnerShown = false;

  const clearSpinner = () => {
    if (spinnerShown) out.write("\r\x1b[K");
    spinnerShown = false;
  };
  const spin = () => {
    if (!tty) return;
    const wait = timedWait(current, clock.now(Date.now()));
    const countdown = wait ? ` — ${formatDuration(Math.ceil(wait.leftMs / 1000) * 1000)} left` : "";
    const lost = unreachableSince !== undefined ? " — connection lost, retrying…" : "";
    const text = `${SPINNER[frame++ % SPINNER.length]} ${formatDuration(Date.now() - started)}  ${current.phase} ${current.traffic.weight}%${countdown}${lost}`;
    out.write(`\r\x1b[K${text.slice(0, Math.max(10, (out.columns || 80) - 1))}`);
    spinnerShown = true;
  };
  const line = (text: string) => {
    clearSpinner();
    out.write(`${text}\n`);
    spin();
  };

  const first = changeLine(undefined, current);
  if (first !== undefined) line(first);
  const ticker = tty ? setInterval(spin, 120) : undefined;
  try {
    for (;;) {
      const state = settled(current);
      if (state !== undefined) {
        clearSpinner();
        return finish(state, current);
      }
      if (opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs) {
        clearSpinner();
        process.stderr.write(
          `aviary: gave up waiting after ${formatDuration(opts.timeoutMs)}; the rollout of ${current.canary.version} is still ${current.phase}: ${current.reason}\n`,
        );
        return { code: EXIT.failed, rollout: current };
      }
      await new Promise((resolve) => setTimeout(resolve, opts.intervalMs));
      let view: ServiceView;
      try {
        const answer = await client.answer<ServiceView>("GET", path, undefined, {
          timeoutMs: Math.max(5_000, opts.intervalMs),
        });
        view = answer.body;
        clock.observe({ sentAt: answer.sentAt, receivedAt: answer.receivedAt, date: answer.date });
        if (unreachableSince !== undefined) line("connection back");
        unreachableSince = undefined;
      } catch (err) {
        if (!(err instanceof UnreachableError)) throw err;
        if (unreachableSince === undefined) {
          unreachableSince = Date.now();
          line(`connection lost, retrying… (${err.reason})`);
        } else if (Date.now() - unreachableSince >= (opts.unreachableMs ?? 60_000)) {
          clearSpinner();
          throw err;
        }
        continue;
      }
      const next = view.rollout;
      if (next === null || next.id !== current.id) {
        clearSpinner();
        process.stderr.write(
          `aviary: the rollout of ${current.canary.version} was replaced${next ? ` by a rollout of ${next.canary.version} (${next.id})` : ""}; stopped following it\n`,
        );
        return { code: EXIT.failed, rollout: current };
      }
      const text = changeLine(current, next);
      current = next;
      if (text !== undefined) line(text);
    }
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    clearSpinner();
  }

  function finish(state: "healthy" | "aborted" | "waiting", r: Rollout): FollowResult {
    if (state === "aborted") {
      process.stderr.write(`aviary: the rollout of ${r.canary.version} was aborted: ${r.reason}\n`);
      return { code: EXIT.failed, rollout: r };
    }
    if (state === "waiting") {
      out.write(`${personHint(service, r) ?? `waiting: ${r.reason}`}\n`);
    } else out.write(`done: ${r.canary.version} is stable\n`);
    return { code: EXIT.ok, rollout: r };
  }
}
