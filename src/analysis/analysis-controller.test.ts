import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { NoopTrafficProvider } from "../providers/traffic/noop/index.js";
import { Controller } from "../rollout/controller.js";
import { Spec, type SpecInput } from "../spec/schema.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import type { Judge, MetricProvider, Observation, Verdict } from "./types.js";

/**
 * The analysis engine inside the controller, with a scripted provider and judge: what the
 * verdicts do to a rollout, what is stored, and what survives a restart.
 */

const V1 = { version: "v1", targets: ["http://127.0.0.1:9001"] };
const V2 = { version: "v2", targets: ["http://127.0.0.1:9002"] };

/** A judge whose verdicts are scripted per measurement; counts what it saw in its state. */
function scriptedJudge(script: Array<Verdict["phase"] | "pass">): Judge {
  let seen = 0;
  return {
    type: "scripted",
    window: "interval",
    slowEdgesMs: [],
    judge(obs: Observation): Verdict {
      const next = script[Math.min(seen, script.length - 1)] ?? "Successful";
      seen++;
      const phase = next === "pass" ? "Successful" : next;
      return {
        phase,
        value: obs.canary.value,
        message: `measurement ${seen}: ${next}`,
        evidence: {
          decision: next === "pass" ? "pass" : phase === "Failed" ? "fail" : "continue",
          seen,
        },
      };
    },
    state: () => ({ seen }),
    restore(state) {
      seen = (state as { seen: number }).seen;
    },
  };
}

const provider: MetricProvider = {
  type: "fake",
  async measure(from, to) {
    return {
      canary: { value: 0.5, requests: 100, errors: 50 },
      stable: { value: 0.01, requests: 1000, errors: 10 },
      from,
      to,
    };
  },
};

function spec(steps: unknown[], background?: unknown): SpecInput {
  return {
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/" },
        stable: V1,
        strategy: {
          steps: steps as never,
          ...(background ? { analysis: background as never } : {}),
        },
      },
    ],
    analysisTemplates: [
      {
        name: "errors",
        metrics: [
          { name: "error-rate", interval: "10s", provider: { builtin: { signal: "errorRate" } } },
        ],
      },
    ],
  };
}

const opened: Array<{ controller: Controller; store: Store }> = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.controller.stop();
    await o.store.close();
  }
});

async function setup(
  input: SpecInput,
  script: Array<Verdict["phase"] | "pass">,
  file = join(mkdtempSync(join(tmpdir(), "aviary-an-")), "a.db"),
  clock = new ManualClock(),
) {
  const store = openSqliteStore(file);
  const router = new NoopTrafficProvider();
  const parsed = Spec.parse(input);
  const controller = new Controller({
    store,
    router,
    clock,
    log: silentLogger(),
    analysis: { providerFor: () => provider, judgeFor: () => scriptedJudge(script) },
  });
  await controller.start(parsed.services, parsed.analysisTemplates);
  opened.push({ controller, store });
  const advance = async (ms: number) => {
    for (let left = ms; left > 0; left -= 1000) {
      clock.advance(Math.min(1000, left));
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { store, router, controller, clock, advance, file };
}

describe("analysis in a rollout", () => {
  it("an inline analysis that fails aborts the rollout, with the analysis as actor and the measurement's sentence as reason", async () => {
    const h = await setup(
      spec([{ setWeight: 5 }, { analysis: { templates: ["errors"] } }, { setWeight: 50 }]),
      ["Successful", "Failed"],
    );
    const r = await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(r.phase, "Analyzing");
    await h.advance(10_000);
    assert.equal(
      (await h.controller.rollout("shop"))!.phase,
      "Analyzing",
      "one successful measurement, failureLimit 0 not exceeded",
    );
    await h.advance(10_000);
    const aborted = (await h.controller.rollout("shop"))!;
    assert.equal(aborted.phase, "Aborted");
    assert.match(aborted.reason, /^analysis failed: error-rate: measurement 2: Failed$/);
    const last = (await h.controller.history("shop")).at(-1)!;
    assert.equal(last.actor, "analysis");
    const runs = await h.store.analysisRunsOf(r.id);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.phase, "Failed");
    const ms = await h.store.measurementsOf(runs[0]!.id);
    assert.deepEqual(
      ms.map((m) => m.phase),
      ["Successful", "Failed"],
    );
    assert.ok(
      (ms[1]!.evidence.window as { from: number; to: number }).to >
        (ms[1]!.evidence.window as { from: number }).from,
    );
    assert.equal(h.router.states.get("shop")!.canary, null);
  });

  it("an inline analysis that passes early moves the rollout on", async () => {
    const h = await setup(
      spec([{ setWeight: 5 }, { analysis: { templates: ["errors"] } }, { pause: {} }]),
      ["Successful", "pass"],
    );
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(20_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.stepIndex, 2);
    assert.match((await h.controller.history("shop")).at(-1)!.reason, /analysis passed/);
  });

  it("inconclusive pauses for a person; resume measures again; promote accepts", async () => {
    const h = await setup(spec([{ analysis: { templates: ["errors"] } }, { pause: {} }]), [
      "Inconclusive",
      "Inconclusive",
      "pass",
    ]);
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(10_000);
    let r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Paused");
    assert.match(
      r.reason,
      /analysis inconclusive: .* promote to accept, resume to measure again, abort to roll back/,
    );
    await h.controller.resume("shop", "operator:alice");
    await h.advance(10_000);
    r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Paused", "the second run was inconclusive too");
    assert.equal((await h.store.analysisRunsOf(r.id)).length, 2);
    await h.controller.promote("shop", false, "operator:alice");
    assert.equal((await h.controller.rollout("shop"))!.stepIndex, 1);
  });

  it("a failing background analysis aborts whatever step the rollout is on", async () => {
    const h = await setup(
      spec([{ setWeight: 5 }, { pause: { duration: "1h" } }], {
        templates: ["errors"],
        startingStep: 1,
      }),
      ["Successful", "Successful", "Failed"],
    );
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(20_000);
    assert.equal((await h.controller.rollout("shop"))!.phase, "Paused");
    await h.advance(10_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Aborted");
    assert.match(r.reason, /^background analysis failed: /);
  });

  it("a run resumes after a restart with its judge state and counts, measuring no window twice", async () => {
    const clock = new ManualClock();
    const file = join(mkdtempSync(join(tmpdir(), "aviary-an-")), "a.db");
    const first = await setup(
      spec([{ analysis: { templates: ["errors"] } }, { pause: {} }]),
      ["Successful", "Successful", "Successful", "pass"],
      file,
      clock,
    );
    const r = await first.controller.deploy("shop", V2, "operator:alice");
    await first.advance(20_000);
    const run = (await first.store.analysisRunsOf(r.id))[0]!;
    assert.equal((await first.store.measurementsOf(run.id)).length, 2);
    await first.controller.stop();
    await first.store.close();
    opened.length = 0;
    clock.advance(5_000);
    const second = await setup(
      spec([{ analysis: { templates: ["errors"] } }, { pause: {} }]),
      ["Successful", "Successful", "Successful", "pass"],
      file,
      clock,
    );
    await second.advance(30_000);
    const ms = await second.store.measurementsOf(run.id);
    assert.deepEqual(
      ms.map((m) => (m.evidence.judgeState as { seen: number }).seen),
      [1, 2, 3, 4],
      "the judge's count continued from the stored state",
    );
    const windows = ms.map((m) => m.evidence.window as { from: number; to: number });
    for (let i = 1; i < windows.length; i++)
      assert.equal(
        windows[i]!.from,
        windows[i - 1]!.to,
        "windows follow each other without gap or overlap",
      );
    assert.equal((await second.controller.rollout("shop"))!.stepIndex, 1);
  });
});

describe("template alpha through the controller", () => {
  it("two sequential metrics of one template each judge at α/2, recorded in the stored evidence", async () => {
    const { createJudge } = await import("./judges/index.js");
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), "aviary-an-")), "a.db"));
    const clock = new ManualClock();
    const controller = new Controller({
      store,
      router: new NoopTrafficProvider(),
      clock,
      log: silentLogger(),
      analysis: { providerFor: () => provider, judgeFor: createJudge },
    });
    const input = spec([{ setWeight: 5 }, { analysis: { templates: ["pair"] } }, { pause: {} }]);
    input.analysisTemplates = [
      {
        name: "pair",
        alpha: 0.002,
        metrics: [
          { name: "errors", interval: "10s", provider: { builtin: { signal: "errorRate" } } },
          {
            name: "errors-again",
            interval: "10s",
            provider: { builtin: { signal: "errorRate" } },
          },
        ],
      },
    ];
    const parsed = Spec.parse(input);
    await controller.start(parsed.services, parsed.analysisTemplates);
    opened.push({ controller, store });
    const r = await controller.deploy("shop", V2, "operator:alice");
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      for (let j = 0; j < 10; j++) await new Promise((res) => setImmediate(res));
    }
    const run = (await store.analysisRunsOf(r.id))[0]!;
    const ms = await store.measurementsOf(run.id);
    assert.ok(ms.length >= 2, `measured ${ms.length}`);
    for (const m of ms) assert.equal(m.evidence.alpha, 0.001, `${m.metric}: ${m.message}`);
  });
});

describe("a scored template through the controller (Kayenta's weighted score)", () => {
  /** Each metric's judge follows its own script; a second, unscored template keeps its own verdicts. */
  async function scored(scripts: Record<string, Array<Verdict["phase"] | "pass">>, refs: string[]) {
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), "aviary-an-")), "a.db"));
    const clock = new ManualClock();
    const controller = new Controller({
      store,
      router: new NoopTrafficProvider(),
      clock,
      log: silentLogger(),
      analysis: {
        providerFor: () => provider,
        judgeFor: (m) => scriptedJudge(scripts[m.name] ?? ["Successful"]),
      },
    });
    const input = spec([{ setWeight: 5 }, { analysis: { templates: refs } }, { pause: {} }]);
    const metric = (name: string, extra: object = {}) => ({
      name,
      interval: "10s",
      count: 3,
      provider: { builtin: { signal: "errorRate" as const } },
      ...extra,
    });
    input.analysisTemplates = [
      {
        name: "golden",
        scoring: { pass: 95, marginal: 60, groupWeights: { errors: 50, latency: 50 } },
        metrics: [
          metric("error-rate", { groups: ["errors"] }),
          metric("p99", { groups: ["latency"] }),
          metric("p50", { groups: ["latency"] }),
          metric("panics", { groups: ["errors"], critical: true }),
          metric("shadow", { dryRun: true }),
        ],
      },
      { name: "plain", metrics: [metric("plain-errors")] },
    ];
    const parsed = Spec.parse(input);
    await controller.start(parsed.services, parsed.analysisTemplates);
    opened.push({ controller, store });
    const r = await controller.deploy("shop", V2, "operator:alice");
    const advance = async (ms: number) => {
      for (let left = ms; left > 0; left -= 1000) {
        clock.advance(1000);
        for (let i = 0; i < 10; i++) await new Promise((res) => setImmediate(res));
      }
    };
    const scores = async () =>
      (await store.measurementsOf((await store.analysisRunsOf(r.id))[0]!.id)).filter(
        (m) => m.metric === "score:golden",
      );
    return { controller, store, advance, scores, id: r.id };
  }

  it("a metric that fails costs its group's share, and a marginal score pauses for a person", async () => {
    const h = await scored({ p99: ["Successful", "Failed"], shadow: ["Failed"] }, ["golden"]);
    await h.advance(20_000);
    assert.equal(
      (await h.controller.rollout("shop"))!.phase,
      "Analyzing",
      "75 is above marginal 60",
    );
    await h.advance(10_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Paused");
    assert.match(
      r.reason,
      /score of golden 75 \(pass ≥ 95, fails ≤ 60, marginal\): error-rate Pass 25\/25, p99 High 0\/25, p50 Pass 25\/25, panics Pass 25\/25/,
    );
    const last = (await h.scores()).at(-1)!;
    assert.equal(last.value, 75);
    assert.equal(last.phase, "Inconclusive");
    const contributions = last.evidence.contributions as Array<{ metric: string; muted: boolean }>;
    assert.deepEqual(
      contributions.map((c) => [c.metric, c.muted]),
      [
        ["error-rate", false],
        ["p99", false],
        ["p50", false],
        ["panics", false],
        ["shadow", true],
      ],
      "the muted dry-run metric is shown, failing, and costs nothing",
    );
    assert.deepEqual(
      (await h.scores()).map((m) => `${m.value} ${m.phase} ${m.evidence.decision}`),
      ["100 Successful continue", "75 Successful continue", "75 Inconclusive inconclusive"],
      "a score is stored when it or its verdict changes, not at every measurement",
    );
  });

  it("a score at or below marginal rolls back at once, naming each metric's part", async () => {
    const h = await scored({ "error-rate": ["Failed"], p99: ["Failed"] }, ["golden"]);
    await h.advance(10_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Aborted");
    assert.match(
      r.reason,
      /^analysis failed: score of golden 50 \(pass ≥ 95, fails ≤ 60\): error-rate High 0\/25, p99 High 0\/25, p50 Pass 25\/25, panics Pass 25\/25$/,
    );
  });

  it("a critical metric that does not pass fails the run whatever the score", async () => {
    const h = await scored({ panics: ["Successful", "Failed"] }, ["golden"]);
    await h.advance(20_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Aborted");
    assert.match(r.reason, /score of golden 0: critical panics did not pass/);
  });

  it("every metric passing moves on with the score; an unscored template beside it keeps its own verdict", async () => {
    const ok = await scored({}, ["golden", "plain"]);
    await ok.advance(30_000);
    assert.equal((await ok.controller.rollout("shop"))!.stepIndex, 2);
    assert.match((await ok.controller.history("shop")).at(-1)!.reason, /score of golden 100/);

    const bad = await scored({ "plain-errors": ["Failed"] }, ["golden", "plain"]);
    await bad.advance(10_000);
    const r = (await bad.controller.rollout("shop"))!;
    assert.equal(r.phase, "Aborted");
    assert.match(r.reason, /^analysis failed: plain-errors: measurement 1: Failed$/);
  });
});
