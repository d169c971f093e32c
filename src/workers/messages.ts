/**
 * What `serve --workers` says between the primary and its workers over node:cluster's IPC
 * channel. The router token travels here, not in the environment: a worker's environment is
 * readable by every process it starts and shows in /proc, a message is not kept anywhere.
 *
 * @module
 */

/** Primary → worker, once, right after the fork: what to follow and where to serve. */
export interface StartMessage {
  kind: "aviary.worker.start";
  index: number;
  id: string;
  /** The primary's admin URL on loopback. */
  control: string;
  token: string;
  listen: { host: string; port: number };
  dataDir: string;
  reportIntervalMs: number;
}

/** Primary → worker: finish what is in flight, say it is leaving, exit 0. */
export interface DrainMessage {
  kind: "aviary.worker.drain";
}

/**
 * Worker → primary, once its module has loaded: send the start now. node:cluster's own
 * `online` comes before a worker's ES module has run, so a message sent then would be lost.
 */
export interface HelloMessage {
  kind: "aviary.worker.hello";
}

/** Worker → primary: it serves a state, on this address. */
export interface ServingMessage {
  kind: "aviary.worker.serving";
  listen: string;
}

/** Worker → primary: it cannot start (the primary fails its own start with this, before ready). */
export interface FailedMessage {
  kind: "aviary.worker.failed";
  problem: string;
  /** Set when the data-plane address could not be bound (the primary reports it as serve does). */
  bind?: { code: string; address?: string; port?: number };
}

export type ToWorker = StartMessage | DrainMessage;
export type ToPrimary = HelloMessage | ServingMessage | FailedMessage;

export function isMessage<T extends { kind: string }>(m: unknown, kind: T["kind"]): m is T {
  return typeof m === "object" && m !== null && (m as { kind?: unknown }).kind === kind;
}
