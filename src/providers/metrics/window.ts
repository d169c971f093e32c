/**
 * Checks every provider makes before measuring: a sane window, and a measurement not already
 * aborted.
 *
 * @module
 */

import { ProviderError } from "../../analysis/types.js";

/** Throws ProviderError("window") unless from and to are finite epoch ms with from < to. */
export function checkWindow(what: string, from: number, to: number): void {
  if (!Number.isFinite(from) || !Number.isFinite(to) || !(from < to)) {
    throw new ProviderError(
      "window",
      `${what}: a window needs finite epoch ms with from < to, got from=${from} to=${to}`,
    );
  }
}

/** Throws ProviderError("aborted") if the measurement's signal has fired. */
export function checkAborted(what: string, signal: AbortSignal): void {
  if (signal.aborted) throw new ProviderError("aborted", `${what}: measurement aborted`);
}
