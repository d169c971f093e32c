/**
 * The Node provider's background reporter: exposures and events aggregated per (flag, variant)
 * in memory and sent to Aviary's tracking endpoint every second, in batches within the
 * endpoint's limits. The buffer is bounded (what does not fit is dropped and counted), the
 * timer never keeps the process alive, a failed send is retried with back-off (its counts
 * merged back, within the same bound), and nothing here throws into the application.
 *
 * @module
 */

/** The endpoint's limits (`src/tracking/batch.ts`): items per batch, values per item and batch. */
const MAX_ITEMS = 1_000;
const MAX_VALUES = 1_000;
const MAX_BATCH_VALUES = 10_000;
const MAX_COUNT = 1_000_000;

export interface ReporterOptions {
  url: string;
  clientKey: string;
  /** How often to report (default 1 s). */
  intervalMs: number;
  /** Distinct (flag, variant, event) counters plus latency values held at once (default 10,000). */
  maxBuffered: number;
  /** Longest back-off after failed sends (default 30 s). */
  maxBackoffMs: number;
  /** One send's timeout (default 5 s). */
  timeoutMs: number;
  /** Exposures counted on the evaluation path, drained into the buffer before each send. */
  collect: (into: (flag: string, variant: string, count: number) => void) => void;
  onError: (message: string) => void;
}

export interface ReporterStats {
  /** Items the endpoint accepted. */
  sent: number;
  /** Exposures and events dropped: the buffer was full, or the endpoint refused them. */
  dropped: number;
  /** Sends that failed and were retried. */
  failedSends: number;
  buffered: number;
}

type Exposure = { flag: string; variant: string; count: number };
type Event = { name: string; flag: string; variant: string; count?: number; values?: number[] };

const SEP = "\u0000";

export class Reporter {
  readonly #o: ReporterOptions;
  /** flag␀variant → exposures; flag␀variant␀name → events; flag␀variant → latency values. */
  #exposures = new Map<string, number>();
  #events = new Map<string, number>();
  #latency = new Map<string, number[]>();
  #size = 0;
  #stats: ReporterStats = { sent: 0, dropped: 0, failedSends: 0, buffered: 0 };
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #failures = 0;
  #notBefore = 0;

  constructor(opts: ReporterOptions) {
    this.#o = opts;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.flush(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stats(): ReporterStats {
    return { ...this.#stats, buffered: this.#size };
  }

  exposure(flag: string, variant: string, count: number): void {
    this.#add(this.#exposures, `${flag}${SEP}${variant}`, count);
  }

  event(flag: string, variant: string, name: string, count: number): void {
    this.#add(this.#events, `${flag}${SEP}${variant}${SEP}${name}`, count);
  }

  latency(flag: string, variant: string, ms: number): void {
    if (this.#size >= this.#o.maxBuffered) {
      this.#stats.dropped++;
      return;
    }
    const k = `${flag}${SEP}${variant}`;
    let vs = this.#latency.get(k);
    if (vs === undefined) {
      vs = [];
      this.#latency.set(k, vs);
    }
    vs.push(ms);
    this.#size++;
  }

  /** Sends what is buffered now (one send at a time; a send during back-off waits for later). */
  async flush(force = false): Promise<void> {
    if (this.#sending !== undefined) return this.#sending;
    if (!force && Date.now() < this.#notBefore) return;
    this.#sending = this.#send().finally(() => {
      this.#sending = undefined;
    });
    return this.#sending;
  }

  /** Stops the timer and sends what is left, once, without back-off. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sending;
    await this.flush(true);
  }

  #add(map: Map<string, number>, key: string, count: number): void {
    const had = map.get(key);
    if (had === undefined) {
      if (this.#size >= this.#o.maxBuffered) {
        this.#stats.dropped += count;
        return;
      }
      this.#size++;
      map.set(key, count);
    } else map.set(key, had + count);
  }

  async #send(): Promise<void> {
    try {
      this.#o.collect((flag, variant, count) => this.exposure(flag, variant, count));
      const exposures = this.#exposures;
      const events = this.#events;
      const latency = this.#latency;
      this.#exposures = new Map();
      this.#events = new Map();
      this.#latency = new Map();
      this.#size = 0;
      const batches = toBatches(exposures, events, latency);
      for (let i = 0; i < batches.length; i++) {
        const batch = batches[i]!;
        const outcome = await this.#post(batch);
        if (outcome === "retry") {
          // This batch and the ones not yet sent go back into the buffer, for later.
          for (const b of batches.slice(i)) this.#restore(b);
          this.#failures++;
          this.#stats.failedSends++;
          const backoff = Math.min(this.#o.maxBackoffMs, this.#o.intervalMs * 2 ** this.#failures);
          this.#notBefore = Date.now() + backoff;
          return;
        }
      }
      this.#failures = 0;
      this.#notBefore = 0;
    } catch (err) {
      this.#o.onError(`aviary: reporting failed: ${(err as Error).message}`);
    }
  }

  async #post(batch: { exposures: Exposure[]; events: Event[] }): Promise<"ok" | "retry"> {
    let res: Response;
    try {
      res = await fetch(this.#o.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${this.#o.clientKey}`,
        },
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
    } catch (err) {
      this.#o.onError(`aviary: could not report to ${this.#o.url}: ${(err as Error).message}`);
      return "retry";
    }
    const text = await res.text().catch(() => "");
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      this.#o.onError(`aviary: the tracking endpoint answered ${res.status}; retrying later`);
      return "retry";
    }
    const items = batch.exposures.length + batch.events.length;
    if (res.status === 200 || res.status === 422) {
      let refused = 0;
      try {
        refused = Number((JSON.parse(text) as { refusedCount?: number }).refusedCount ?? 0);
      } catch {
        // An answer we cannot read still means the batch was taken.
      }
      this.#stats.sent += items - refused;
      this.#stats.dropped += refused;
      return "ok";
    }
    // Sending the same batch again would be refused again: drop it, and say why.
    this.#stats.dropped += items;
    this.#o.onError(
      `aviary: the tracking endpoint refused a batch (${res.status}): ${text.slice(0, 300)}`,
    );
    return "ok";
  }

  #restore(b: { exposures: Exposure[]; events: Event[] }): void {
    for (const e of b.exposures) this.exposure(e.flag, e.variant, e.count);
    for (const e of b.events) {
      if (e.values !== undefined) for (const v of e.values) this.latency(e.flag, e.variant, v);
      else this.event(e.flag, e.variant, e.name, e.count ?? 1);
    }
  }
}

/** The buffer as batches within the endpoint's limits. */
function toBatches(
  exposures: Map<string, number>,
  events: Map<string, number>,
  latency: Map<string, number[]>,
): Array<{ exposures: Exposure[]; events: Event[] }> {
  const out: Array<{ exposures: Exposure[]; events: Event[] }> = [];
  let cur = { exposures: [] as Exposure[], events: [] as Event[] };
  let values = 0;
  const room = (n: number) => {
    if (cur.exposures.length + cur.events.length >= MAX_ITEMS || values + n > MAX_BATCH_VALUES) {
      out.push(cur);
      cur = { exposures: [], events: [] };
      values = 0;
    }
  };
  for (const [k, count] of exposures) {
    const [flag, variant] = k.split(SEP) as [string, string];
    for (let left = count; left > 0; left -= MAX_COUNT) {
      room(0);
      cur.exposures.push({ flag, variant, count: Math.min(left, MAX_COUNT) });
    }
  }
  for (const [k, count] of events) {
    const [flag, variant, name] = k.split(SEP) as [string, string, string];
    for (let left = count; left > 0; left -= MAX_COUNT) {
      room(0);
      cur.events.push({ name, flag, variant, count: Math.min(left, MAX_COUNT) });
    }
  }
  for (const [k, vs] of latency) {
    const [flag, variant] = k.split(SEP) as [string, string];
    for (let i = 0; i < vs.length; i += MAX_VALUES) {
      const values_ = vs.slice(i, i + MAX_VALUES);
      room(values_.length);
      cur.events.push({ name: "latency", flag, variant, values: values_ });
      values += values_.length;
    }
  }
  if (cur.exposures.length + cur.events.length > 0) out.push(cur);
  return out;
}
