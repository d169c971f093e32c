import { randomBytes } from "node:crypto";

/**
 * A sortable unique id: milliseconds in base 36 (fixed width, so ids sort by time) and 48
 * random bits. Readable enough to type into a CLI.
 */
export function newId(now: number): string {
  return `${now.toString(36).padStart(9, "0")}-${randomBytes(6).toString("hex")}`;
}
