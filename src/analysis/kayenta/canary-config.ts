/**
 * Reads a Kayenta canary config (the JSON Spinnaker's Deck saves, documented in Kayenta's
 * `docs/canary-config.md`) into what Aviary needs to judge the same way: one `mannWhitney`
 * judge config per metric (the spec's shape), each metric's groups and muted flag, the group
 * weights and, when present, the score thresholds.
 *
 * Only the NetflixACAJudge is supported. Fields Kayenta defines but Aviary does not use (ids,
 * timestamps, applications, the metric's `query`, which is the metric provider's business) are
 * accepted and ignored or passed through; anything else is an error naming its path, so a typo
 * never silently changes how a canary is judged. Defaults are Kayenta's: direction `either`,
 * nanStrategy `remove`, outliers kept (factor 3 when removed), confidence 0.98.
 *
 * @module
 */

import { JudgeConfig } from "../../spec/analysis.js";
import type { MannWhitneyConfig } from "./classify.js";
import type { ScoreThresholds } from "./score.js";

export const NETFLIX_ACA_JUDGE = "NetflixACAJudge-v1.0";

/** A canary config that cannot be read; `path` names the field (`metrics[2].analysisConfigurations.canary.direction`). */
export class CanaryConfigError extends Error {
  readonly code = "AVIARY_KAYENTA_CONFIG";
  readonly path: string;
  constructor(path: string, problem: string) {
    super(path === "" ? problem : `${path}: ${problem}`);
    this.path = path;
    this.name = "CanaryConfigError";
  }
}

export interface KayentaMetric {
  name: string;
  groups: string[];
  /** Reported but left out of the score. */
  muted: boolean;
  judge: MannWhitneyConfig;
  /** The metric source's query config, untouched (`{ type: "prometheus", ... }`). */
  query: unknown;
  scopeName: string;
}

export interface KayentaCanaryConfig {
  name: string;
  judgeName: typeof NETFLIX_ACA_JUDGE;
  metrics: KayentaMetric[];
  /** Every group named by a metric, in order of first appearance. */
  groups: string[];
  /** `classifier.groupWeights` as given; groups not listed share what is left of 100. */
  groupWeights: Record<string, number>;
  /** `classifier.scoreThresholds`, when the config carries them (usually they come per execution). */
  scoreThresholds?: ScoreThresholds;
}

type Json = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `"${v}"`;
  if (typeof v === "object") return "an object";
  return String(v);
}

function object(v: unknown, path: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new CanaryConfigError(path, `expected an object, got ${describe(v)}`);
  }
  return v as Json;
}

function onlyKnown(obj: Json, path: string, known: readonly string[], hint = ""): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      const where = path === "" ? key : `${path}.${key}`;
      throw new CanaryConfigError(
        where,
        `unknown or unsupported field (expected one of ${known.join(", ")})${hint}`,
      );
    }
  }
}

function string(v: unknown, path: string): string {
  if (typeof v !== "string" || v.length === 0)
    throw new CanaryConfigError(path, `expected a non-empty string, got ${describe(v)}`);
  return v;
}

function bool(v: unknown, path: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  throw new CanaryConfigError(path, `expected true or false, got ${describe(v)}`);
}

function number(v: unknown, path: string): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n))
    throw new CanaryConfigError(path, `expected a number, got ${describe(v)}`);
  return n;
}

function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
  throw new CanaryConfigError(path, `expected one of ${allowed.join(", ")}, got ${describe(v)}`);
}

const TOP = [
  "id",
  "name",
  "description",
  "applications",
  "configVersion",
  "createdTimestamp",
  "createdTimestampIso",
  "updatedTimestamp",
  "updatedTimestampIso",
  "judge",
  "metrics",
  "templates",
  "classifier",
] as const;
const METRIC = ["id", "name", "query", "groups", "analysisConfigurations", "scopeName"] as const;
const CANARY = [
  "direction",
  "nanStrategy",
  "critical",
  "mustHaveData",
  "muted",
  "effectSize",
  "outliers",
] as const;
const EFFECT = [
  "measure",
  "allowedIncrease",
  "allowedDecrease",
  "criticalIncrease",
  "criticalDecrease",
] as const;

function readCanary(v: unknown, path: string): { judge: MannWhitneyConfig; muted: boolean } {
  const c = v === undefined ? {} : object(v, path);
  onlyKnown(c, path, CANARY);
  const direction = oneOf(
    c.direction,
    `${path}.direction`,
    ["increase", "decrease", "either"] as const,
    "either",
  );
  const nanStrategy = oneOf(
    c.nanStrategy,
    `${path}.nanStrategy`,
    ["remove", "replace"] as const,
    "remove",
  );
  const critical = bool(c.critical, `${path}.critical`, false);
  const mustHaveData = bool(c.mustHaveData, `${path}.mustHaveData`, false);
  const muted = bool(c.muted, `${path}.muted`, false);

  const effectPath = `${path}.effectSize`;
  const e = c.effectSize === undefined ? {} : object(c.effectSize, effectPath);
  onlyKnown(e, effectPath, EFFECT);
  const effectSize: Record<string, unknown> = {
    measure: oneOf(e.measure, `${effectPath}.measure`, ["meanRatio", "cles"] as const, "meanRatio"),
  };
  for (const key of EFFECT.slice(1)) {
    const n = number(e[key], `${effectPath}.${key}`);
    if (n !== undefined) effectSize[key] = n;
  }

  const outPath = `${path}.outliers`;
  const o = c.outliers === undefined ? {} : object(c.outliers, outPath);
  onlyKnown(o, outPath, ["strategy", "outlierFactor"]);
  const strategy = oneOf(o.strategy, `${outPath}.strategy`, ["keep", "remove"] as const, "keep");
  const factor = number(o.outlierFactor, `${outPath}.outlierFactor`) ?? 3;
  if (factor <= 0)
    throw new CanaryConfigError(
      `${outPath}.outlierFactor`,
      `must be greater than 0, got ${factor}`,
    );

  const parsed = JudgeConfig.safeParse({
    mannWhitney: {
      direction,
      confidence: 0.98,
      nanStrategy,
      outliers: { strategy, factor },
      effectSize,
      critical,
      mustHaveData,
    },
  });
  if (!parsed.success || !("mannWhitney" in parsed.data)) {
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    throw new CanaryConfigError(
      path,
      `not a valid mannWhitney judge: ${issue?.message ?? "unknown problem"}`,
    );
  }
  return { judge: parsed.data.mannWhitney, muted };
}

function readMetric(v: unknown, path: string): KayentaMetric {
  const m = object(v, path);
  onlyKnown(m, path, METRIC);
  const name = string(m.name, `${path}.name`);
  if (!Array.isArray(m.groups) || m.groups.length === 0) {
    throw new CanaryConfigError(
      `${path}.groups`,
      `expected a list of at least one group name, got ${describe(m.groups)}`,
    );
  }
  const groups = m.groups.map((g, i) => string(g, `${path}.groups[${i}]`));
  const ac =
    m.analysisConfigurations === undefined
      ? {}
      : object(m.analysisConfigurations, `${path}.analysisConfigurations`);
  onlyKnown(ac, `${path}.analysisConfigurations`, ["canary"]);
  const { judge, muted } = readCanary(ac.canary, `${path}.analysisConfigurations.canary`);
  const scopeName =
    m.scopeName === undefined ? "default" : string(m.scopeName, `${path}.scopeName`);
  return { name, groups: [...new Set(groups)], muted, judge, query: m.query, scopeName };
}

/**
 * Reads a Kayenta canary config, as parsed JSON or as JSON text.
 *
 * @throws CanaryConfigError naming the field at fault.
 */
export function readCanaryConfig(input: unknown): KayentaCanaryConfig {
  let doc = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw new CanaryConfigError("", `not valid JSON: ${(err as Error).message}`);
    }
  }
  const top = object(doc, "");
  onlyKnown(top, "", TOP);
  const name = top.name === undefined ? "" : string(top.name, "name");

  if (top.judge === undefined)
    throw new CanaryConfigError("judge", `missing; expected { "name": "${NETFLIX_ACA_JUDGE}" }`);
  const judge = object(top.judge, "judge");
  onlyKnown(judge, "judge", ["name", "judgeConfigurations"]);
  if (judge.name !== NETFLIX_ACA_JUDGE) {
    throw new CanaryConfigError(
      "judge.name",
      `only ${NETFLIX_ACA_JUDGE} is supported, got ${describe(judge.name)}`,
    );
  }
  if (judge.judgeConfigurations !== undefined) {
    const jc = object(judge.judgeConfigurations, "judge.judgeConfigurations");
    const first = Object.keys(jc)[0];
    if (first !== undefined)
      throw new CanaryConfigError(
        `judge.judgeConfigurations.${first}`,
        "unsupported (Kayenta expects {})",
      );
  }

  if (!Array.isArray(top.metrics) || top.metrics.length === 0) {
    throw new CanaryConfigError(
      "metrics",
      `expected a list of at least one metric, got ${describe(top.metrics)}`,
    );
  }
  const metrics = top.metrics.map((m, i) => readMetric(m, `metrics[${i}]`));
  const seen = new Map<string, number>();
  metrics.forEach((m, i) => {
    const first = seen.get(m.name);
    if (first !== undefined)
      throw new CanaryConfigError(
        `metrics[${i}].name`,
        `"${m.name}" is already the name of metrics[${first}]`,
      );
    seen.set(m.name, i);
  });
  const groups = [...new Set(metrics.flatMap((m) => m.groups))];

  const classifier = top.classifier === undefined ? {} : object(top.classifier, "classifier");
  onlyKnown(classifier, "classifier", ["groupWeights", "scoreThresholds"]);
  const weights =
    classifier.groupWeights === undefined
      ? {}
      : object(classifier.groupWeights, "classifier.groupWeights");
  const groupWeights: Record<string, number> = {};
  let total = 0;
  for (const [group, raw] of Object.entries(weights)) {
    const path = `classifier.groupWeights.${group}`;
    const w = number(raw, path);
    if (w === undefined || w < 0)
      throw new CanaryConfigError(path, `expected a weight ≥ 0, got ${describe(raw)}`);
    if (!groups.includes(group)) {
      throw new CanaryConfigError(
        path,
        `no metric is in group "${group}" (groups: ${groups.join(", ")})`,
      );
    }
    groupWeights[group] = w;
    total += w;
  }
  if (total > 100 + 1e-9)
    throw new CanaryConfigError(
      "classifier.groupWeights",
      `weights must total at most 100, got ${total}`,
    );

  const result: KayentaCanaryConfig = {
    name,
    judgeName: NETFLIX_ACA_JUDGE,
    metrics,
    groups,
    groupWeights,
  };
  if (classifier.scoreThresholds !== undefined) {
    const st = object(classifier.scoreThresholds, "classifier.scoreThresholds");
    onlyKnown(st, "classifier.scoreThresholds", ["pass", "marginal"]);
    const pass = number(st.pass, "classifier.scoreThresholds.pass");
    const marginal = number(st.marginal, "classifier.scoreThresholds.marginal");
    if (pass === undefined || marginal === undefined) {
      throw new CanaryConfigError("classifier.scoreThresholds", "needs both pass and marginal");
    }
    if (marginal > pass) {
      throw new CanaryConfigError(
        "classifier.scoreThresholds.marginal",
        `must not exceed pass (${marginal} > ${pass})`,
      );
    }
    result.scoreThresholds = { pass, marginal };
  }
  return result;
}
