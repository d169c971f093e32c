/**
 * Tracked counts shared between instances. Applications may send their exposures and events to
 * any instance (a load balancer in front of several), but the analysis runs on the leader: each
 * instance upserts what its tracking endpoint counted lately in the store every 2 s, and reads
 * every other instance's report, so every instance — the leader, and any follower that may lead
 * next — judges a flag on all of its users. The store is the only channel: instances need not
 * reach one another, and a follower that takes over already holds the window.
 *
 * What is not shared: the last period's counts of an instance that dies before reporting them
 * (at most 2 s of what reached that instance).
 *
 * @module
 */

import type { FlagSet } from "../flags/served.js";
import type { Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { TRACKING_HORIZON_S, type TrackingWindows, TrackingWindowsSchema } from "./report.js";
import type { FlagWindows } from "./windows.js";

export const SHARE_EVERY_MS = 2_000;

export interface TrackingShare {
  /** One round now: report this instance's seconds, then take the others'. */
  round(): Promise<void>;
  close(): Promise<void>;
}

export function startTrackingShare(opts: {
  store: Pick<Store, "putTrackingReport" | "trackingReports" | "deleteTrackingReportsBefore">;
  windows: FlagWindows;
  /** This instance's name; its own stored report is never read back. */
  instance: string;
  /** The flags served now: only their flags and variants are taken from reports. */
  flags: () => FlagSet;
  /** How far back the windows reach (ms): reports older than that are deleted. */
  windowMs: number;
  clock: Clock;
  log: Logger;
  everyMs?: number;
}): TrackingShare {
  const { store, windows, instance, clock, log } = opts;
  // A problem is said when it first shows in an instance's reports, not once per round.
  const warned = new Map<string, string>();
  let reported = false;
  let failing = false;
  let running: Promise<void> | undefined;

  const publish = async () => {
    const now = Math.floor(clock.now() / 1000);
    const report = windows.export(now - TRACKING_HORIZON_S, now);
    // Nothing counted lately: the last report already holds every second that counted.
    if (report.series.length === 0 && !reported) return;
    reported = report.series.length > 0;
    await store.putTrackingReport({ instance, at: clock.now(), windows: report });
  };

  const take = async () => {
    const served = opts.flags().flags;
    const accepts = (flag: string, variant: string) => {
      const f = served.get(flag);
      return f !== undefined && variant in f.flag.variants;
    };
    const seen = new Set<string>();
    for (const r of await store.trackingReports()) {
      if (r.instance === instance) continue;
      seen.add(r.instance);
      const parsed = TrackingWindowsSchema.safeParse(r.windows);
      if (!parsed.success) {
        warnOnce(r.instance, { problem: parsed.error.issues[0]?.message });
        continue;
      }
      const refused = windows.merge(r.instance, parsed.data as TrackingWindows, accepts);
      if (refused.length > 0) warnOnce(r.instance, { refused: refused.slice(0, 5) });
      else warned.delete(r.instance);
    }
    for (const other of windows.remoteInstances()) {
      // Its report was deleted (older than the window): what it held has left it.
      if (!seen.has(other)) windows.forget(other);
    }
    await store.deleteTrackingReportsBefore(clock.now() - opts.windowMs - 60_000);
  };

  const warnOnce = (from: string, detail: Record<string, unknown>) => {
    const said = JSON.stringify(detail);
    if (warned.get(from) === said) return;
    warned.set(from, said);
    log.warn(
      { instance: from, ...detail },
      "part of another instance's tracking report was not used",
    );
  };

  const round = async () => {
    if (running) return running;
    // No flag served: nothing can have been tracked, and no report would be taken.
    if (opts.flags().flags.size === 0 && windows.remoteInstances().length === 0) return;
    running = (async () => {
      try {
        await publish();
        await take();
        if (failing) log.info("tracked counts are shared through the store again");
        failing = false;
      } catch (err) {
        // Said once per outage: a database that is away fails every round until it is back.
        if (!failing)
          log.warn({ err: String(err) }, "cannot share tracked counts through the store");
        failing = true;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const timer = setInterval(() => void round(), opts.everyMs ?? SHARE_EVERY_MS);
  timer.unref();
  return {
    round,
    async close() {
      clearInterval(timer);
      await running;
      // What this instance counted since its last round still reaches the others.
      await publish().catch(() => undefined);
    },
  };
}
