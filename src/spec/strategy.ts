/**
 * The rollout strategy part of the spec: the steps a canary goes through, the background
 * analysis, deadlines and promotion. Modelled on Argo Rollouts' canary steps, with Flagger's
 * gate ideas and a blue/green form that expands into the same steps.
 *
 * @module
 */

import { z } from "zod";
import { Gate } from "./notify.js";
import { durationWithin, Mirror, RequestMatch } from "./schema-parts.js";

/**
 * How long a rollout waits on purpose (a pause, the promotion hold, blue/green's preview): up
 * to a year. A canary may bake through a month-end or quarter-end cycle; past a year it is a
 * slip of the keyboard (`300d` for `300s`), not a plan.
 */
const PACE = durationWithin("365d");

const Weight = z.number().min(0).max(100);

export const AnalysisRef = z
  .strictObject({
    templates: z
      .array(z.string().min(1))
      .min(1)
      .describe("Names of `analysisTemplates` to measure with."),
    args: z
      .record(z.string(), z.string())
      .default({})
      .describe("Values substituted for `{{args.NAME}}` in the templates' queries."),
  })
  .meta({
    title: "Analysis reference",
    description: "An analysis: the templates to measure with and their arguments.",
  });
export type AnalysisRef = z.infer<typeof AnalysisRef>;

const STEP_KINDS = "setWeight, pause, analysis, setHeaderRoute or setMirror";

export const Step = z
  .union(
    [
      z.strictObject({
        setWeight: Weight.describe("Sets the canary's share of ordinary traffic, 0-100 %."),
      }),
      z.strictObject({
        pause: z
          .strictObject({
            duration: PACE.optional().describe(
              "How long to wait; without it, the rollout waits for `aviary promote`.",
            ),
          })
          .describe("Waits: for `duration`, or without one until an operator promotes."),
      }),
      z.strictObject({
        analysis: AnalysisRef.describe("Runs an analysis that must succeed before the next step."),
      }),
      z.strictObject({
        setHeaderRoute: z
          .strictObject({
            name: z
              .string()
              .min(1)
              .describe("The managed route's name; a later step can remove it."),
            match: RequestMatch.optional().describe(
              "Requests sent to the canary; leave it out to remove the route named `name`.",
            ),
          })
          .describe(
            "Adds (or, without `match`, removes) a managed route sending matching requests to the canary.",
          ),
      }),
      z.strictObject({
        setMirror: Mirror.describe(
          "Mirrors a share of stable traffic to the canary; percent 0 stops mirroring.",
        ),
      }),
    ],
    { error: `a step is exactly one of ${STEP_KINDS}` },
  )
  .describe("One instruction of a canary strategy; exactly one key.");
export type Step = z.infer<typeof Step>;

export const BlueGreen = z
  .strictObject({
    preview: RequestMatch.describe(
      "Requests matching this see the new version before the switch (e.g. a preview header).",
    ),
    autoPromotionAfter: PACE.optional().describe(
      "Switch automatically this long after the preview starts; without it, wait for promote.",
    ),
    prePromotionAnalysis: AnalysisRef.optional().describe(
      "An analysis that must pass before the switch.",
    ),
  })
  .describe("The blue/green form: canary at 0 % behind a preview route, then all traffic at once.");
export type BlueGreen = z.infer<typeof BlueGreen>;

export const Strategy = z
  .strictObject({
    steps: z
      .array(Step)
      .default([])
      .describe(
        "The steps a new canary goes through, in order; after the last one comes the promotion (see `promotion`).",
      ),
    blueGreen: BlueGreen.optional(),
    analysis: AnalysisRef.extend({
      startingStep: z
        .int()
        .min(0)
        .default(0)
        .describe("The step (0-based index into `steps`) the background analysis starts with."),
    })
      .optional()
      .describe("An analysis running alongside the steps from `startingStep` on; failure aborts."),
    // A watchdog for a step that cannot complete (targets down): pauses, gates and analyses
    // do not count against it, so a month is already far more than any step needs.
    progressDeadline: durationWithin("30d")
      .default("10m")
      .describe(
        "A step that cannot complete within this time (e.g. canary targets unavailable) aborts the rollout. Pauses and analyses do not count against it.",
      ),
    maxWeight: Weight.default(100).describe(
      "The highest weight a step may set; promotion moves the rest of the traffic at once.",
    ),
    promotion: z
      .strictObject({
        hold: PACE.default("0s").describe(
          "How long the canary must hold 100 % of traffic before it becomes stable.",
        ),
        auto: z
          .boolean()
          .default(true)
          .describe(
            "When false, the rollout waits at full weight for `aviary promote` (a promotion gate).",
          ),
      })
      .prefault({})
      .describe("What happens after the last step."),
    abortOnTargetsDown: z
      .boolean()
      .default(true)
      .describe(
        "Abort at once when every canary target is down (ejected or failing health checks).",
      ),
    gates: z.array(Gate).default([]).describe("Hooks the rollout waits for, asks, or tells."),
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
  })
  .meta({
    title: "Strategy",
    description:
      "How a new canary (or a flag's new variant) is rolled out: steps (or blue/green, for services), analyses, deadlines, gates.",
  });
export type Strategy = z.infer<typeof Strategy>;
