/**
 * The process logger: JSON lines on stderr (pino), with every field that could carry a secret
 * redacted before it is written.
 *
 * @module
 */

import { destination, type Logger, pino } from "pino";

export type { Logger };

const REDACT = [
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  "secret",
  "*.secret",
];

export function createLogger(level = process.env.AVIARY_LOG_LEVEL ?? "info"): Logger {
  return pino(
    { level, base: { name: "aviary" }, redact: { paths: REDACT, censor: "[redacted]" } },
    destination(2),
  );
}

/** A logger that writes nothing, for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
