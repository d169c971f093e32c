/**
 * Outcomes as small integers. Every counter array in this module is indexed by an outcome slot,
 * so the hot path bumps `counts[slot]` instead of choosing a field by name.
 *
 * @module
 */

import type { FailureKind } from "./types.js";

/** Slots 0..4 hold status classes 1xx..5xx; 5..7 hold failures. */
export const SLOT_5XX = 4;
/** Slot of a connect error. */
export const SLOT_CONNECT = 5;
/** Slot of a timeout. */
export const SLOT_TIMEOUT = 6;
/** Slot of an upstream reset. */
export const SLOT_RESET = 7;
/** Number of outcome slots: the length of every counts array. */
export const SLOTS = 8;

/** The Prometheus `code` label of each slot. */
export const SLOT_CODES = [
  "1xx",
  "2xx",
  "3xx",
  "4xx",
  "5xx",
  "connect_error",
  "timeout",
  "reset",
] as const;

/**
 * Slot of a status code. A code outside 100..599 is not a valid HTTP response, so it counts as
 * 5xx: an upstream that sends one is broken, and an error must never hide as a success.
 */
export function statusSlot(status: number): number {
  const cls = (status / 100) | 0;
  return cls >= 1 && cls <= 5 ? cls - 1 : SLOT_5XX;
}

/** Slot of a failure kind; anything unknown counts as a reset so it is still an error. */
export function failureSlot(kind: FailureKind): number {
  return kind === "connect" ? SLOT_CONNECT : kind === "timeout" ? SLOT_TIMEOUT : SLOT_RESET;
}

/** Whether a slot counts as an error: 5xx and every failure. */
export function isErrorSlot(slot: number): boolean {
  return slot >= SLOT_5XX;
}
