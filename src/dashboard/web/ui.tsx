/**
 * Small shared pieces of the dashboard: icons (inline SVG, hidden from screen readers; the
 * words next to them carry the meaning), the phase badge, the weight bar, notices, and the
 * countdown of a timed pause.
 *
 * @module
 */

import type { ComponentChildren } from "preact";
import { formatCountdown, formatDuration, formatWeight } from "./format.js";
import type { Badge, IconName, Tone } from "./phase.js";
import type { Countdown } from "./timeline.js";

const PATHS: Record<IconName | "back" | "live" | "offline" | "user", string> = {
  play: "M8 5v14l11-7z",
  pause: "M7 5h3v14H7zM14 5h3v14h-3z",
  gate: "M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3",
  search: "M10.5 4a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13zM20 20l-4.8-4.8",
  "arrow-up": "M12 19V5M5.5 11.5L12 5l6.5 6.5",
  check: "M5 12.5l4.5 4.5L19 7.5",
  cross: "M6.5 6.5l11 11M17.5 6.5l-11 11",
  dot: "M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z",
  split: "M3 12h6M9 12l9-6M9 12l9 6M15 5h3v3M15 19h3v-3",
  warning: "M12 3.5L2.5 20.5h19zM12 10v4.5M12 17.5v.5",
  back: "M15 5l-7 7 7 7",
  live: "M5 12a7 7 0 0 1 14 0M8.5 12a3.5 3.5 0 0 1 7 0M12 12v.5",
  offline: "M4 4l16 16M5 12a7 7 0 0 1 9-6.7M19 12a7 7 0 0 0-1.3-4",
  user: "M12 4a4 4 0 1 0 0 8a4 4 0 1 0 0-8zM4.5 20a7.5 7.5 0 0 1 15 0",
};

/** Icons drawn filled rather than stroked. */
const FILLED = new Set(["play", "pause", "dot"]);

export function Icon({ name, size = 16 }: { name: keyof typeof PATHS; size?: number }) {
  const filled = FILLED.has(name);
  return (
    <svg
      class="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      aria-hidden="true"
      focusable="false"
      fill={filled ? "currentColor" : "none"}
      stroke={filled ? "none" : "currentColor"}
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}

export function toneClass(tone: Tone): string {
  return `tone-${tone}`;
}

/** A badge: icon, words and a tone; the longer title is shown on hover. */
export function BadgeView({ badge, testId }: { badge: Badge; testId?: string }) {
  return (
    <span
      class={`badge ${toneClass(badge.tone)}`}
      title={badge.title || undefined}
      data-testid={testId}
    >
      <Icon name={badge.icon} size={14} />
      <span>{badge.label}</span>
    </span>
  );
}

/** The canary's weight as a bar (decoration) and a number (what assistive technology reads). */
export function WeightBar({ weight, label }: { weight: number; label: string }) {
  const w = Math.min(100, Math.max(0, weight));
  return (
    <div class="weight">
      <div class="weight-track" aria-hidden="true">
        <div class="weight-fill" style={{ width: `${w}%` }} />
      </div>
      <span class="weight-text">
        <span class="visually-hidden">{label}: </span>
        <span data-testid="weight">{formatWeight(w)}</span>
      </span>
    </div>
  );
}

export function Notice({
  kind,
  children,
}: {
  kind: "error" | "info" | "warning";
  children: ComponentChildren;
}) {
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      <Icon name={kind === "info" ? "dot" : "warning"} />
      <div>{children}</div>
    </div>
  );
}

/** A timed pause or the promotion hold: time left as a clock and a bar. */
export function CountdownView({ countdown }: { countdown: Countdown }) {
  const done = countdown.totalMs - countdown.leftMs;
  const what = countdown.kind === "hold" ? "Promotion hold" : "Pause";
  return (
    <div class="countdown" data-testid="countdown">
      <div class="countdown-head">
        <span>
          {what} of {formatDuration(countdown.totalMs)}
        </span>
        <span class="countdown-left">
          {countdown.leftMs > 0 ? `${formatCountdown(countdown.leftMs)} left` : "ending"}
          {countdown.frozen ? " (frozen while paused)" : ""}
        </span>
      </div>
      <progress
        max={countdown.totalMs}
        value={done}
        aria-label={`${what}: ${formatCountdown(countdown.leftMs)} left`}
      />
    </div>
  );
}
