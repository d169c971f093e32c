/**
 * A router's last known good state on its own disk, so that a router restarted while the
 * control plane (or its database) is unreachable serves what it served before instead of
 * nothing. Written atomically: a temporary file in the same directory, fsync, rename over the
 * old one, fsync of the directory. A crash at any point leaves the old file or the new one,
 * never half of either.
 *
 * @module
 */

import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { type CheckedFleetState, checkFleetState, type FleetState } from "./state.js";

export const STATE_FILE = "fleet-state.json";

export interface SavedState {
  /** When the router took this state from the control plane (ms). */
  receivedAt: number;
  /** Which control-plane address answered it. */
  from: string;
  state: FleetState;
}

/** Writes `saved` to `<dir>/fleet-state.json` atomically (mode 0600: it names every target). */
export function saveState(dir: string, saved: SavedState): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(saved)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename itself is durable only once the directory is.
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * The saved state, checked as a received one is; undefined when there is none. A file that
 * is there but unusable throws, naming the file: the caller logs it and starts empty.
 */
export function loadState(
  dir: string,
): { saved: SavedState; checked: CheckedFleetState } | undefined {
  const file = join(dir, STATE_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let value: Partial<SavedState>;
  try {
    value = JSON.parse(text) as Partial<SavedState>;
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  if (typeof value?.receivedAt !== "number" || typeof value.from !== "string")
    throw new Error(`${file}: receivedAt and from missing`);
  const checked = checkFleetState(value.state, `${file}: state`);
  return {
    saved: { receivedAt: value.receivedAt, from: value.from, state: checked.state },
    checked,
  };
}
