/**
 * Numbers, durations and times as the dashboard shows them. A figure without data is "—",
 * never a 0 that would read as "no errors". Times are shown in the browser's time zone.
 *
 * @module
 */

/** Shown where a figure has no data (no requests in the window). */
export const NO_DATA = "—";

/** `1234.5` → `1,234.5`; at most `decimals` decimals, trailing zeros dropped. */
export function formatNumber(x: number, decimals = 2): string {
  if (!Number.isFinite(x)) return x > 0 ? "∞" : x < 0 ? "−∞" : NO_DATA;
  const factor = 10 ** decimals;
  const rounded = Math.round(x * factor) / factor;
  const [int, frac] = Math.abs(rounded).toFixed(decimals).split(".") as [string, string?];
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const tail = frac?.replace(/0+$/, "") ?? "";
  return `${rounded < 0 ? "−" : ""}${grouped}${tail ? `.${tail}` : ""}`;
}

/** A canary weight, 0-100: `20%`, `12.5%`. */
export function formatWeight(w: number): string {
  return `${formatNumber(w, 2)}%`;
}

/** An error rate (a fraction): `0.42%`, `<0.01%`, `—` without requests. */
export function formatErrorRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return NO_DATA;
  if (rate === 0) return "0%";
  const pct = rate * 100;
  if (pct < 0.01) return "<0.01%";
  return `${formatNumber(pct, pct < 10 ? 2 : 1)}%`;
}

/** A latency: `0.4 ms`, `42 ms`, `1.25 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NO_DATA;
  if (ms < 10) return `${formatNumber(ms, 1)} ms`;
  if (ms < 1000) return `${formatNumber(ms, 0)} ms`;
  return `${formatNumber(ms / 1000, 2)} s`;
}

/** Requests per second: `12.3/s`. */
export function formatRps(rps: number | null | undefined): string {
  if (rps === null || rps === undefined || !Number.isFinite(rps)) return NO_DATA;
  return `${formatNumber(rps, rps < 10 ? 2 : 1)}/s`;
}

/** A duration in words: `45s`, `2m 5s`, `1h 30m`, `3d 4h` (two units at most). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 1000) return ms === 0 ? "0s" : `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  const values: Array<[number, string]> = [
    [Math.floor(s / 86_400), "d"],
    [Math.floor((s % 86_400) / 3_600), "h"],
    [Math.floor((s % 3_600) / 60), "m"],
    [s % 60, "s"],
  ];
  const first = values.findIndex(([n]) => n > 0);
  const [n, unit] = values[first] as [number, string];
  const next = values[first + 1];
  return next !== undefined && next[0] > 0 ? `${n}${unit} ${next[0]}${next[1]}` : `${n}${unit}`;
}

/** A countdown: `0:09`, `4:05`, `1:02:03`; rounds up, so it reads 0:00 only when done. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** How long ago: `just now`, `12s ago`, `3m ago`, `2h ago`, `4d ago`. */
export function formatAgo(ms: number): string {
  if (ms < 5_000) return "just now";
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)}h ago`;
  return `${Math.floor(ms / 86_400_000)}d ago`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Local wall-clock time: `14:03:22`. */
export function formatClock(at: number): string {
  const d = new Date(at);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Local date and time: `2025-03-01 14:03:22`. */
export function formatDateTime(at: number): string {
  const d = new Date(at);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(at)}`;
}

/** The clock time, with the date in front when it is not `today`'s. */
export function formatWhen(at: number, today: number): string {
  const a = new Date(at);
  const b = new Date(today);
  const sameDay =
    a.getFullYear() === b.getFullYear() &&
    a.getMonth() === b.getMonth() &&
    a.getDate() === b.getDate();
  return sameDay ? formatClock(at) : formatDateTime(at);
}

const EVENT_NAMES: Record<string, string> = {
  "rollout.started": "Rollout started",
  "rollout.retried": "Rollout retried",
  "step.started": "Step started",
  "weight.set": "Weight set",
  "route.set": "Header route set",
  "route.removed": "Header route removed",
  "mirror.set": "Mirror set",
  "mirror.removed": "Mirror removed",
  "traffic.set": "Traffic set",
  "service.created": "Service created",
  "service.removed": "Service removed",
  paused: "Paused",
  resumed: "Resumed",
  promoted: "Promoted",
  aborted: "Aborted",
  undo: "Undo",
  "gate.waiting": "Waiting at gate",
  "gate.opened": "Gate opened",
  "gate.passed": "Gates passed",
  "gate.told": "Gate told",
};

/** An event type in words: `weight.set` → `Weight set`; unknown types are tidied, not hidden. */
export function eventName(type: string): string {
  const known = EVENT_NAMES[type];
  if (known !== undefined) return known;
  const words = type.replace(/[._-]+/g, " ").trim();
  return words === "" ? type : words[0]!.toUpperCase() + words.slice(1);
}
