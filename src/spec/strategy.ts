/**
 * The rollout strategy part of the spec: the steps a canary goes through, the background
 * analysis, deadlines and promotion. Modelled on Argo Rollouts' canary steps, with Flagger's
 * gate ideas and a blue/green form that expands into the same steps.
 *
 * @module
 */

import { z } from "zod";
import { Gate } from "./notify.js";
import { Duration, Mirror, RequestMatch } from "./schema-parts.js";

const Weight = z.number().min(0).max(100);

const AnalysisRef = z.strictObject({
  /** Names of `analysisTemplates` to measure with. */
  templates: z.array(z.string().min(1)).min(1),
  /** Values substituted for `{{args.NAME}}` in the templates' queries. */
  args: z.record(z.string(), z.string()).default({}),
});
export type AnalysisRef = z.infer<typeof AnalysisRef>;

const STEP_KINDS = "setWeight, pause, analysis, setHeaderRoute or setMirror";

/** One instruction of a canary strategy; exactly one key. */
export const Step = z.union(
  [
    /** Sets the canary's share of ordinary traffic. */
    z.strictObject({ setWeight: Weight }),
    /** Waits: for `duration`, or without one until an operator promotes. */
    z.strictObject({ pause: z.strictObject({ duration: Duration.optional() }) }),
    /** Runs an analysis that must succeed before the next step. */
    z.strictObject({ analysis: AnalysisRef }),
    /** Adds (or, without `match`, removes) a managed route sending matching requests to the canary. */
    z.strictObject({
      setHeaderRoute: z.strictObject({ name: z.string().min(1), match: RequestMatch.optional() }),
    }),
    /** Mirrors a share of stable traffic to the canary; percent 0 stops mirroring. */
    z.strictObject({ setMirror: Mirror }),
  ],
  { error: `a step is exactly one of ${STEP_KINDS}` },
);
export type Step = z.infer<typeof Step>;

export const BlueGreen = z.strictObject({
  /** Requests matching this see the new version before the switch (e.g. a preview header). */
  preview: RequestMatch,
  /** Switch automatically this long after the preview starts; without it, wait for promote. */
  autoPromotionAfter: Duration.optional(),
  /** An analysis that must pass before the switch. */
  prePromotionAnalysis: AnalysisRef.optional(),
});
export type BlueGreen = z.infer<typeof BlueGreen>;

export const Strategy = z
  .strictObject({
    steps: z.array(Step).default([]),
    /** The blue/green form: canary at 0 % behind a preview route, then all traffic at once. */
    blueGreen: BlueGreen.optional(),
    /** An analysis running alongside the steps from `startingStep` on; failure aborts. */
    analysis: AnalysisRef.extend({ startingStep: z.int().min(0).default(0) }).optional(),
    /**
     * A step that cannot complete within this time (e.g. canary targets unavailable) aborts the
     * rollout. Pauses and analyses do not count against it.
     */
    progressDeadline: Duration.default("10m"),
    /** The highest weight a step may set; promotion moves the rest of the traffic at once. */
    maxWeight: Weight.default(100),
    promotion: z
      .strictObject({
        /** How long the canary must hold 100 % of traffic before it becomes stable. */
        hold: Duration.default("0s"),
        /** When false, the rollout waits at full weight for `aviary promote` (a promotion gate). */
        auto: z.boolean().default(true),
      })
      .prefault({}),
    /** Abort at once when every canary target is down (ejected or failing health checks). */
    abortOnTargetsDown: z.boolean().default(true),
    /** Hooks the rollout waits for, asks, or tells (see Gate). */
    gates: z.array(Gate).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.blueGreen !== undefined && s.steps.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["blueGreen"],
        message: "use either steps or blueGreen, not both",
      });
    }
    s.steps.forEach((step, i) => {
      if ("setWeight" in step && step.setWeight > s.maxWeight) {
        ctx.addIssue({
          code: "custom",
          path: ["steps", i, "setWeight"],
          message: `weight ${step.setWeight} is above maxWeight ${s.maxWeight}`,
        });
      }
    });
    const gateNames = new Map<string, number>();
    s.gates.forEach((g, i) => {
      const seen = gateNames.get(g.name);
      if (seen !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["gates", i, "name"],
          message: `gate name ${g.name} is already used by gates[${seen}]`,
        });
      } else gateNames.set(g.name, i);
    });
    if (s.analysis !== undefined && s.analysis.startingStep > s.steps.length) {
      ctx.addIssue({
        code: "custom",
        path: ["analysis", "startingStep"],
        message: `there are only ${s.steps.length} steps`,
      });
    }
  });
export type Strategy = z.infer<typeof Strategy>;
