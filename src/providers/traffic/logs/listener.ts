/**
 * Receives the engine's access log over syslog (UDP) and records each line into the same
 * per-version windows the embedded router fills, so the builtin metric provider and every judge
 * read what HAProxy or nginx served.
 *
 * Anyone who can send a datagram to the address can add counts to a canary's figures, so the
 * listener keeps to loopback unless `allowFrom` names the engines' addresses (see
 * docs/dataplane-logs.md, "Trust boundary"). Whatever arrives is handled synchronously in the
 * socket's message callback: no queue, nothing kept per datagram, and names are looked up, never
 * added, so a flood of invented names costs CPU but neither memory nor new series. What is
 * dropped is counted, never logged per line: one warning a minute at most, saying how many.
 *
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIP, isIPv6 } from "node:net";
import { Counter, type Registry } from "prom-client";
import type { Recorder } from "../../../dataplane/metrics/types.js";
import { AviaryError } from "../../../errors.js";
import { isLoopbackHost, type ListenAddress, parseListenAddress } from "../../../util/address.js";
import { addressMatcher } from "../../../util/cidr.js";
import { type Clock, systemClock, type TimerHandle } from "../../../util/clock.js";
import type { Logger } from "../../../util/log.js";
import { parseLine } from "./line.js";
import { parseSyslog } from "./syslog.js";

/** Datagrams larger than this are dropped unread: a log line of the contract is under 400 bytes. */
export const MAX_DATAGRAM_BYTES = 8 * 1024;
/** Drops are reported at most this often. */
export const WARN_INTERVAL_MS = 60_000;
// Room for bursts before the kernel drops datagrams; Linux caps it at net.core.rmem_max.
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
const SETTING = "dataplane.logs.listen";
const METRIC = "aviary_dataplane_log_lines_total";

export type LogOutcome = "recorded" | "malformed" | "foreign" | "oversized";
export type LogLineCounts = Record<LogOutcome, number>;
type Drop = Exclude<LogOutcome, "recorded">;

export interface LogListenerOptions {
  /** `udp://HOST:PORT` (`dataplane.logs.listen`); port 0 picks a free one. */
  listen: string;
  /**
   * The recorder of a (service, version, role) the spec or a rollout names, else undefined:
   * the line is then counted as `foreign` and dropped. A lookup, called once per line: it must
   * not create recorders for names it does not know, nor throw.
   */
  resolve: (service: string, version: string, role: "stable" | "canary") => Recorder | undefined;
  log: Logger;
  /** Where `aviary_dataplane_log_lines_total` is registered (MetricsRegistry's `prometheus`). */
  prometheus?: Registry;
  /** Times the drop warnings; default the system clock. */
  clock?: Clock;
  /**
   * Source addresses (CIDR ranges) the engines send from (`dataplane.logs.allowFrom`). Needed to
   * listen on anything but loopback; datagrams from elsewhere are counted as `foreign`.
   */
  allowFrom?: readonly string[];
}

export interface LogListener {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: ListenAddress;
  /** Datagrams by outcome since the start. */
  stats(): LogLineCounts;
  close(): Promise<void>;
}

/** Binds the syslog listener; rejects with an error naming `dataplane.logs.listen` if it cannot. */
export async function startLogListener(opts: LogListenerOptions): Promise<LogListener> {
  const where = parseUdpAddress(opts.listen);
  const allowFrom = opts.allowFrom ?? [];
  let fromAllowed: ((address: string) => boolean) | undefined;
  try {
    fromAllowed = addressMatcher(allowFrom);
  } catch (err) {
    throw new AviaryError("AVIARY_USAGE", `dataplane.logs.allowFrom: ${(err as Error).message}`);
  }
  if (fromAllowed === undefined && !isLoopbackHost(where.host))
    throw new AviaryError(
      "AVIARY_USAGE",
      `${SETTING}: ${opts.listen} is not a loopback address; anyone who can send it a datagram could add counts to a canary's figures. Listen on 127.0.0.1 or ::1, or name the engines' addresses in dataplane.logs.allowFrom`,
    );

  const socket = createSocket({
    type: isIPv6(where.host) ? "udp6" : "udp4",
    recvBufferSize: RECEIVE_BUFFER_BYTES,
  });
  await bind(socket, where, opts.listen);
  const bound = socket.address();
  try {
    return new UdpLogListener(socket, { host: bound.address, port: bound.port }, opts, fromAllowed);
  } catch (err) {
    // Such as a second listener's counter on the same registry: the bound port must not leak.
    socket.close();
    throw err;
  }
}

class UdpLogListener implements LogListener {
  readonly address: ListenAddress;
  readonly #socket: Socket;
  readonly #resolve: LogListenerOptions["resolve"];
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #fromAllowed: ((address: string) => boolean) | undefined;
  readonly #prometheus: Registry | undefined;
  readonly #counts: LogLineCounts = { recorded: 0, malformed: 0, foreign: 0, oversized: 0 };
  // Drops since the last warning, and the first reason among them (a reason, never the bytes).
  #unreported = 0;
  #sampleReason = "";
  #lastWarnAt = Number.NEGATIVE_INFINITY;
  #warnTimer: TimerHandle | undefined;
  #closed: Promise<void> | undefined;

  constructor(
    socket: Socket,
    address: ListenAddress,
    opts: LogListenerOptions,
    fromAllowed: ((address: string) => boolean) | undefined,
  ) {
    this.#socket = socket;
    this.address = address;
    this.#resolve = opts.resolve;
    this.#log = opts.log;
    this.#clock = opts.clock ?? systemClock;
    this.#fromAllowed = fromAllowed;
    this.#prometheus = opts.prometheus;
    if (this.#prometheus !== undefined) this.#register(this.#prometheus);
    socket.on("message", (msg, rinfo) => this.#handle(msg, rinfo));
    // After binding, a socket error (UDP sockets rarely report one) must not crash the process.
    socket.on("error", (err) => this.#log.warn({ err }, "syslog listener socket error"));
    this.#log.info(
      { listen: opts.listen, receiveBufferBytes: socket.getRecvBufferSize() },
      "receiving the engine's access log",
    );
  }

  stats(): LogLineCounts {
    return { ...this.#counts };
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#warnTimer?.cancel();
      this.#warnTimer = undefined;
      this.#prometheus?.removeSingleMetric(METRIC);
      this.#socket.close(() => resolve());
    });
    return this.#closed;
  }

  #handle(msg: Buffer, rinfo: RemoteInfo): void {
    const dropped = this.#record(msg, rinfo);
    if (dropped === undefined) this.#counts.recorded++;
    else this.#drop(dropped[0], dropped[1]);
  }

  /** Records the datagram's request; else says why it was dropped. */
  #record(msg: Buffer, rinfo: RemoteInfo): [Drop, string] | undefined {
    if (this.#fromAllowed !== undefined && !this.#fromAllowed(unmapped(rinfo.address)))
      return ["foreign", "a datagram from an address not in dataplane.logs.allowFrom"];
    if (msg.length > MAX_DATAGRAM_BYTES)
      return ["oversized", `a datagram over ${MAX_DATAGRAM_BYTES} bytes`];
    const syslog = parseSyslog(msg);
    if (!syslog.ok) return ["malformed", `not syslog: ${syslog.reason}`];
    const line = parseLine(syslog.body);
    if (!line.ok) return ["malformed", `not an aviary1 line: ${line.reason}`];
    const e = line.entry;
    const recorder = this.#resolve(e.service, e.version, e.role);
    if (recorder === undefined)
      return ["foreign", "a line naming a service, version or role Aviary does not run"];
    if (e.failure === undefined) recorder.response(e.status, e.latencyMs);
    else recorder.failure(e.failure, e.latencyMs);
    return undefined;
  }

  #drop(outcome: Drop, reason: string): void {
    this.#counts[outcome]++;
    if (this.#unreported++ === 0) this.#sampleReason = reason;
    if (this.#warnTimer !== undefined) return;
    const wait = this.#lastWarnAt + WARN_INTERVAL_MS - this.#clock.now();
    if (wait <= 0) this.#warn();
    else this.#warnTimer = this.#clock.setTimeout(() => this.#warn(), wait);
  }

  #warn(): void {
    this.#warnTimer = undefined;
    if (this.#unreported === 0) return;
    this.#log.warn(
      { dropped: this.#unreported, example: this.#sampleReason, totals: this.stats() },
      `dropped ${this.#unreported} access-log datagram(s) since the last warning (malformed, foreign or oversized; see ${METRIC})`,
    );
    this.#unreported = 0;
    this.#lastWarnAt = this.#clock.now();
  }

  #register(registry: Registry): void {
    const counts = this.#counts;
    // Filled from the plain counts at scrape time, so a datagram costs no label hashing.
    new Counter({
      name: METRIC,
      help: "Access-log datagrams received from the engine, by what became of them.",
      labelNames: ["outcome"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, n] of Object.entries(counts)) this.inc({ outcome }, n);
      },
    });
  }
}

function parseUdpAddress(listen: string): ListenAddress {
  const where = listen.startsWith("udp://")
    ? parseListenAddress(listen.slice("udp://".length))
    : undefined;
  if (where === undefined)
    throw new AviaryError(
      "AVIARY_USAGE",
      `${SETTING}: expected udp://HOST:PORT such as udp://127.0.0.1:5514, got ${JSON.stringify(listen)}`,
    );
  return where;
}

function bind(socket: Socket, where: ListenAddress, listen: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      try {
        socket.close();
      } catch {
        // Already closed by the failed bind: nothing left to release.
      }
      const why = err.code === "EADDRINUSE" ? "the address is in use" : err.message;
      reject(
        new AviaryError("AVIARY_USAGE", `${SETTING}: cannot listen on ${listen}: ${why}`, {
          cause: err,
        }),
      );
    };
    socket.once("error", onError);
    socket.bind({ address: where.host, port: where.port, exclusive: true }, () => {
      socket.off("error", onError);
      resolve();
    });
  });
}

/** `::ffff:10.0.0.5` (an IPv4 sender on a dual-stack socket) as the IPv4 address it is. */
function unmapped(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
