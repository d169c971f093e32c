/**
 * `AviaryProvider`: an OpenFeature server provider that evaluates Aviary's flags in-process
 * (the same compiled evaluator Aviary's OFREP listener runs, so answers agree bucket for
 * bucket), follows changes, and reports what the analysis needs to measure a flag: exposures
 * of measured flags (those with a `rollout`) counted on the evaluation path, and `track()`
 * events attributed to the variant each measured flag gives the event's context.
 *
 * @module
 */

import {
  ErrorCode,
  type EvaluationContext,
  FlagNotFoundError,
  type JsonValue,
  type Logger,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  type TrackingEventDetails,
  TypeMismatchError,
} from "@openfeature/server-sdk";
import type { EvaluationContext as AviaryContext, CompiledFlag } from "../flags/evaluate.js";
import { Reporter, type ReporterStats } from "./reporter.js";
import { FlagSync, type SyncedSet } from "./sync.js";

export interface AviaryProviderOptions {
  /** The OFREP listener's base URL, e.g. `http://aviary.internal:8016`. */
  baseUrl: string;
  /** A client key (`aviary token create --role client`). */
  clientKey: string;
  /** How changes are followed: the SSE change stream (default) or polling with the ETag. */
  changes?: "sse" | "polling";
  /** Polling interval (default 30 s), when polling. */
  pollIntervalMs?: number;
  /** How often exposures and events are reported (default 1 s). */
  reportIntervalMs?: number;
  /** Counters and latency values held for the next report (default 10,000); more are dropped. */
  maxBuffered?: number;
  /** Business event names kept per flag (default 32, as the endpoint keeps). */
  maxEventNames?: number;
  /** One request's timeout (default 5 s). */
  timeoutMs?: number;
  /**
   * How long the change stream may stay silent before it is replaced (default 45 s: three of
   * Aviary's 15 s heartbeats), so a connection to an instance that vanished is noticed.
   */
  streamIdleMs?: number;
  /** Where problems are told (default: console.warn); nothing is ever thrown into the app. */
  onError?: (message: string) => void;
}

const RESERVED_ERROR = "error";
const RESERVED_LATENCY = "latency";
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** A flag of the set, with its exposures since the last report when it is measured. */
interface FlagState {
  readonly compiled: CompiledFlag;
  readonly measured: boolean;
  /** variant → exposures not yet reported (measured flags only). */
  readonly seen: Record<string, number>;
  readonly names: Set<string>;
}

export class AviaryProvider implements Provider {
  readonly metadata = { name: "aviary" } as const;
  readonly runsOn = "server" as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly #sync: FlagSync;
  readonly #reporter: Reporter;
  readonly #maxNames: number;
  readonly #onError: (message: string) => void;
  #flags = new Map<string, FlagState>();
  #texts = new Map<string, string>();
  #measured: FlagState[] = [];
  #revision = 0;
  #invalid = 0;

  constructor(opts: AviaryProviderOptions) {
    checkOptions(opts);
    const base = new URL(opts.baseUrl);
    this.#onError = opts.onError ?? ((m) => console.warn(m));
    const timeoutMs = opts.timeoutMs ?? 5_000;
    this.#maxNames = opts.maxEventNames ?? 32;
    this.#sync = new FlagSync({
      baseUrl: base.toString(),
      clientKey: opts.clientKey,
      changes: opts.changes ?? "sse",
      pollIntervalMs: opts.pollIntervalMs ?? 30_000,
      timeoutMs,
      streamIdleMs: opts.streamIdleMs ?? 45_000,
      onSet: (set) => this.#swap(set),
      onError: this.#onError,
      // initialize failed earlier: the SDK holds the provider in error until it hears this.
      onReady: () => {
        this.#reporter.start();
        this.events.emit(ProviderEvents.Ready);
      },
    });
    this.#reporter = new Reporter({
      url: new URL("/aviary/v1/flags/track", base).toString(),
      clientKey: opts.clientKey,
      intervalMs: opts.reportIntervalMs ?? 1_000,
      maxBuffered: opts.maxBuffered ?? 10_000,
      maxBackoffMs: 30_000,
      timeoutMs,
      collect: (into) => this.#drain(this.#measured, into),
      onError: this.#onError,
    });
  }

  /** The revision of the flag set in use (0 before the first fetch). */
  get revision(): number {
    return this.#revision;
  }

  /** What the reporter did so far; `invalidEvents` are track() calls it could not use. */
  stats(): ReporterStats & { invalidEvents: number } {
    return { ...this.#reporter.stats(), invalidEvents: this.#invalid };
  }

  async initialize(): Promise<void> {
    await this.#sync.start();
    this.#reporter.start();
  }

  async onClose(): Promise<void> {
    this.#sync.close();
    await this.#reporter.close();
  }

  /** Sends what is buffered now (tests, and applications about to exit). */
  flush(): Promise<void> {
    return this.#reporter.flush(true);
  }

  async resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
    _logger: Logger,
  ): Promise<ResolutionDetails<boolean>> {
    return this.#resolve(flagKey, defaultValue, context, "boolean");
  }

  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
    _logger: Logger,
  ): Promise<ResolutionDetails<string>> {
    return this.#resolve(flagKey, defaultValue, context, "string");
  }

  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
    _logger: Logger,
  ): Promise<ResolutionDetails<number>> {
    return this.#resolve(flagKey, defaultValue, context, "number");
  }

  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    _logger: Logger,
  ): Promise<ResolutionDetails<T>> {
    return this.#resolve(flagKey, defaultValue, context, "object");
  }

  /** The evaluation without the Promise the Provider interface wraps it in (for benchmarks). */
  resolveSync<T>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    type: "boolean" | "string" | "number" | "object",
  ): ResolutionDetails<T> {
    return this.#resolve(flagKey, defaultValue, context, type);
  }

  /**
   * Attributes an event to the variant each measured flag gives `context`: `error` counts
   * against the variant's error rate, `latency` puts `details.value` (ms) in its latency
   * sketch, any other name is a business event (for the `flagEvent` metric provider).
   */
  track(name: string, context: EvaluationContext, details?: TrackingEventDetails): void {
    try {
      if (!NAME.test(name)) {
        this.#invalid++;
        return;
      }
      const value = details?.value;
      if (
        name === RESERVED_LATENCY &&
        (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      ) {
        this.#invalid++;
        return;
      }
      const ctx = context as AviaryContext;
      for (const st of this.#measured) {
        const ev = st.compiled.evaluate(ctx);
        if (ev.errorCode !== undefined) continue;
        if (name === RESERVED_LATENCY)
          this.#reporter.latency(st.compiled.key, ev.variant, value as number);
        else if (name === RESERVED_ERROR)
          this.#reporter.event(st.compiled.key, ev.variant, RESERVED_ERROR, 1);
        else {
          if (!st.names.has(name)) {
            if (st.names.size >= this.#maxNames) {
              this.#invalid++;
              continue;
            }
            st.names.add(name);
          }
          this.#reporter.event(st.compiled.key, ev.variant, name, 1);
        }
      }
    } catch (err) {
      this.#onError(`aviary: track(${name}) failed: ${(err as Error).message}`);
    }
  }

  #resolve<T>(
    key: string,
    defaultValue: T,
    context: EvaluationContext,
    type: "boolean" | "string" | "number" | "object",
  ): ResolutionDetails<T> {
    const st = this.#flags.get(key);
    if (st === undefined) throw new FlagNotFoundError(`no flag ${key} in Aviary's flag set`);
    const ev = st.compiled.evaluate(context as AviaryContext);
    if (ev.errorCode !== undefined)
      return {
        value: defaultValue,
        reason: "ERROR",
        errorCode:
          ev.errorCode === "TARGETING_KEY_MISSING"
            ? ErrorCode.TARGETING_KEY_MISSING
            : ErrorCode.INVALID_CONTEXT,
        ...(ev.errorDetails !== undefined ? { errorMessage: ev.errorDetails } : {}),
      };
    const value = ev.value;
    if (type === "object" ? typeof value !== "object" || value === null : typeof value !== type)
      throw new TypeMismatchError(`flag ${key} is not a ${type}`);
    if (st.measured) st.seen[ev.variant] = (st.seen[ev.variant] ?? 0) + 1;
    return {
      value: value as T,
      variant: ev.variant,
      reason: ev.reason,
      ...(ev.metadata !== undefined ? { flagMetadata: ev.metadata } : {}),
    };
  }

  #drain(states: readonly FlagState[], into: (flag: string, v: string, n: number) => void): void {
    for (const st of states) {
      for (const v in st.seen) {
        const n = st.seen[v]!;
        if (n > 0) {
          into(st.compiled.key, v, n);
          st.seen[v] = 0;
        }
      }
    }
  }

  #swap(set: SyncedSet): void {
    const old = this.#measured;
    const flags = new Map<string, FlagState>();
    const measured: FlagState[] = [];
    for (const [key, compiled] of set.flags) {
      const seen: Record<string, number> = Object.create(null);
      for (const v of Object.keys(compiled.flag.variants)) seen[v] = 0;
      const st: FlagState = {
        compiled,
        measured: compiled.flag.rollout !== undefined,
        seen,
        names: this.#flags.get(key)?.names ?? new Set(),
      };
      flags.set(key, st);
      if (st.measured) measured.push(st);
    }
    const changed: string[] = [];
    for (const [key, text] of set.texts) if (this.#texts.get(key) !== text) changed.push(key);
    for (const key of this.#texts.keys()) if (!set.texts.has(key)) changed.push(key);
    const first = this.#revision === 0 && this.#flags.size === 0;
    this.#flags = flags;
    this.#measured = measured;
    this.#texts = set.texts;
    this.#revision = set.revision;
    // Exposures counted under the old set are still owed to the endpoint.
    this.#drain(old, (f, v, n) => this.#reporter.exposure(f, v, n));
    if (!first && changed.length > 0)
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: changed });
  }
}

/** The numeric options, each a positive finite number when given (RangeError naming it). */
const NUMERIC_OPTIONS = [
  "pollIntervalMs",
  "reportIntervalMs",
  "maxBuffered",
  "maxEventNames",
  "timeoutMs",
  "streamIdleMs",
] as const;

function checkOptions(opts: AviaryProviderOptions): void {
  for (const name of NUMERIC_OPTIONS) {
    const v = opts[name];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v > 0))
      throw new RangeError(`AviaryProvider: ${name} must be a positive number, got ${String(v)}`);
  }
}
