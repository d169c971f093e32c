/**
 * The commands an operator can give a service from where its rollout stands, each with the
 * words of its confirmation dialog. Commands the state machine would refuse (resume at a manual
 * pause, promote while held at a gate) are not offered; the API still has the last word and
 * its refusal is shown as it says it. A read-only or anonymous caller gets none.
 *
 * @module
 */

import type { CommandVerb, Role, ServiceView } from "./api.js";
import { isActive } from "./phase.js";
import { isManualPause, stepLabel, strategyOf } from "./strategy.js";

export type ActionKind =
  | "open-gate"
  | "promote"
  | "promote-full"
  | "pause"
  | "resume"
  | "abort"
  | "retry"
  | "undo";

export interface Action {
  kind: ActionKind;
  /** The button's text. */
  label: string;
  /** For open-gate: the gate. */
  gate?: string;
  confirm: {
    title: string;
    body: string;
    /** The confirming button's text. */
    button: string;
    /** Destructive: styled as such, and the dialog's initial focus is Cancel. */
    danger: boolean;
    /** Offer an optional reason (abort). */
    reason: boolean;
  };
}

/** What a confirmed action sends. */
export type ActionRequest =
  | { kind: "command"; verb: CommandVerb; body: Record<string, unknown> }
  | { kind: "gate"; gate: string };

export function actionsFor(view: ServiceView, role: Role): Action[] {
  if (role !== "operator") return [];
  const r = view.rollout;
  const out: Action[] = [];
  if (r !== null && isActive(view)) {
    const s = strategyOf(r);
    const step = s.steps[r.stepIndex];
    const atPromotion = step === undefined;
    const waiting = r.gates.waiting;
    for (const gate of waiting?.gates ?? []) {
      out.push({
        kind: "open-gate",
        label: `Open gate ${gate}`,
        gate,
        confirm: {
          title: `Open gate ${gate}?`,
          body: `The rollout of ${r.canary.version} waits at gate ${gate}. Opening it lets the rollout go on as if the gate's hook had said yes.`,
          button: `Open gate ${gate}`,
          danger: false,
          reason: false,
        },
      });
    }
    if (waiting === null) {
      const next = s.steps[r.stepIndex + 1];
      out.push({
        kind: "promote",
        label: "Promote",
        confirm: {
          title: atPromotion ? `Promote ${r.canary.version}?` : `Finish step ${r.stepIndex + 1}?`,
          body: atPromotion
            ? `${r.canary.version} becomes the stable version and takes all traffic.`
            : `Ends step ${r.stepIndex + 1} (${stepLabel(step)}) now and goes on to ${next !== undefined ? `step ${r.stepIndex + 2} (${stepLabel(next)})` : "the promotion"}.`,
          button: "Promote",
          danger: false,
          reason: false,
        },
      });
    }
    out.push({
      kind: "promote-full",
      label: "Promote fully",
      confirm: {
        title: `Promote ${r.canary.version} fully?`,
        body: `Skips every remaining step${waiting !== null ? " and gate" : ""} and analysis: ${r.canary.version} becomes stable and takes all traffic at once.`,
        button: "Promote fully",
        danger: true,
        reason: false,
      },
    });
    const waitsForPromote =
      isManualPause(step) || (atPromotion && !s.autoPromote && r.traffic.weight === 100);
    if (r.pausedAt === null) {
      out.push({
        kind: "pause",
        label: "Pause",
        confirm: {
          title: "Pause the rollout?",
          body: `Holds ${r.canary.version} at ${r.traffic.weight}% where it is; a timed pause stops counting until you resume.`,
          button: "Pause",
          danger: false,
          reason: false,
        },
      });
    } else if (!waitsForPromote) {
      out.push({
        kind: "resume",
        label: "Resume",
        confirm: {
          title: "Resume the rollout?",
          body: "The rollout goes on from where it was paused; the time it spent paused counts against nothing.",
          button: "Resume",
          danger: false,
          reason: false,
        },
      });
    }
    out.push({
      kind: "abort",
      label: "Abort",
      confirm: {
        title: `Abort the rollout of ${r.canary.version}?`,
        body: `The canary gets 0% of traffic at once and ${r.stable.version} serves everything. You can retry it later.`,
        button: "Abort rollout",
        danger: true,
        reason: true,
      },
    });
  }
  if (r !== null && r.phase === "Aborted") {
    out.push({
      kind: "retry",
      label: "Retry",
      confirm: {
        title: `Retry the rollout of ${r.canary.version}?`,
        body: `Starts ${r.canary.version} again from step 1, as a new attempt with fresh analyses.`,
        button: "Retry",
        danger: false,
        reason: false,
      },
    });
  }
  const previous = view.previousStable;
  if (previous !== null && !isActive(view)) {
    out.push({
      kind: "undo",
      label: `Undo: back to ${previous.version}`,
      confirm: {
        title: `Put ${previous.version} back?`,
        body: `All traffic moves from ${view.traffic.stable.version} to ${previous.version}, the stable version before the last promotion, at once.`,
        button: `Back to ${previous.version}`,
        danger: true,
        reason: false,
      },
    });
  }
  return out;
}

/** The API call a confirmed action makes; `reason` only for abort, and only when given. */
export function requestOf(action: Action, reason = ""): ActionRequest {
  switch (action.kind) {
    case "open-gate":
      return { kind: "gate", gate: action.gate as string };
    case "promote":
      return { kind: "command", verb: "promote", body: { full: false } };
    case "promote-full":
      return { kind: "command", verb: "promote", body: { full: true } };
    case "abort": {
      const why = reason.trim();
      return { kind: "command", verb: "abort", body: why === "" ? {} : { reason: why } };
    }
    default:
      return { kind: "command", verb: action.kind, body: {} };
  }
}

/** A sentence for the live region once an action went through. */
export function doneText(action: Action, service: string): string {
  switch (action.kind) {
    case "open-gate":
      return `${service}: gate ${action.gate} opened`;
    case "promote":
      return `${service}: promoted`;
    case "promote-full":
      return `${service}: promoted fully`;
    case "pause":
      return `${service}: paused`;
    case "resume":
      return `${service}: resumed`;
    case "abort":
      return `${service}: rollout aborted`;
    case "retry":
      return `${service}: rollout retried`;
    case "undo":
      return `${service}: previous stable version restored`;
    default:
      return `${service}: done`;
  }
}
