import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { commandExecutor, committedAnswer } from "../api/rollout-routes.js";
import { AviaryError } from "../errors.js";
import { NoopTrafficProvider } from "../providers/traffic/noop/index.js";
import { Controller } from "../rollout/controller.js";
import { shop, V1, V2 } from "../rollout/test-harness.js";
import type { Rollout, ServiceState } from "../rollout/types.js";
import { type Service, Spec } from "../spec/schema.js";
import { FencedError } from "../store/errors.js";
import { openPostgresStore } from "../store/postgres/postgres-store.js";
import { type PostgresServer, startPostgres } from "../store/postgres/process.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { NewCommand, Store } from "../store/store.js";
import { ManualClock, systemClock } from "../util/clock.js";
import { createLogger } from "../util/log.js";
import {
  CommandBus,
  CommandProblem,
  type CommandRequest,
  CommandRunner,
  type Execute,
} from "./commands.js";
import { CONTROLLER_LEASE } from "./leadership.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-commands-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const log = createLogger("silent");

function stores() {
  const file = join(dir, `commands-${++files}.db`);
  return { leader: openSqliteStore(file), follower: openSqliteStore(file) };
}

const describeErr = (err: unknown) =>
  err instanceof AviaryError
    ? { code: err.code, message: err.message, status: err.code === "AVIARY_NO_ROLLOUT" ? 404 : 409 }
    : { code: "AVIARY_INTERNAL", message: "internal error; see the server log", status: 500 };

describe("stored commands", () => {
  it("a follower's command is carried out by the leader, in order, and answered as the leader would", async () => {
    const { leader, follower } = stores();
    const done: CommandRequest[] = [];
    const execute: Execute = async (c) => {
      done.push(c);
      if (c.kind === "abort")
        throw new AviaryError("AVIARY_NO_ROLLOUT", `${c.service} has no rollout`);
      return { rollout: { service: c.service, canary: c.args.version } };
    };
    const runner = new CommandRunner({
      store: leader,
      execute,
      describe: describeErr,
      clock: systemClock,
      log,
      tickMs: 100,
      onFenced: () => assert.fail("not fenced"),
      committedAnswer: async () => assert.fail("nothing was committed by another leader"),
    });
    runner.start();
    const bus = new CommandBus({
      store: follower,
      leader: () => undefined,
      clock: systemClock,
      log,
    });
    const deploy = bus.submit({
      kind: "deploy",
      service: "web",
      args: { version: "v2" },
      actor: "operator:ci",
    });
    const abort = bus.submit({ kind: "abort", service: "api", args: {}, actor: "operator:ci" });
    assert.deepEqual(await deploy, {
      done: true,
      result: { rollout: { service: "web", canary: "v2" } },
    });
    await assert.rejects(abort, (err: unknown) => {
      assert.ok(err instanceof CommandProblem);
      assert.equal(err.code, "AVIARY_NO_ROLLOUT");
      assert.equal(err.status, 404);
      assert.equal(err.message, "api has no rollout");
      return true;
    });
    assert.deepEqual(
      done.map((c) => [c.kind, c.service, c.actor]),
      [
        ["deploy", "web", "operator:ci"],
        ["abort", "api", "operator:ci"],
      ],
    );
    await runner.stop();
    bus.close();
    await leader.close();
    await follower.close();
  });

  it("without a leader the caller gets the command's id after the wait, and the outcome once a leader acts", async () => {
    const { leader, follower } = stores();
    const bus = new CommandBus({
      store: follower,
      leader: () => undefined,
      clock: systemClock,
      log,
      waitMs: 200,
    });
    const answer = await bus.submit({ kind: "pause", service: "web", args: {}, actor: "op" });
    assert.equal(answer.done, false);
    const id = answer.done ? "" : answer.id;
    assert.equal((await bus.get(id))?.outcome, null);
    const runner = new CommandRunner({
      store: leader,
      execute: async () => ({ paused: true }),
      describe: describeErr,
      clock: systemClock,
      log,
      tickMs: 50,
      onFenced: () => {},
      committedAnswer: async () => assert.fail("nothing was committed by another leader"),
    });
    runner.start();
    const end = performance.now() + 3_000;
    while ((await bus.get(id))?.outcome == null) {
      assert.ok(performance.now() < end, "the leader carried it out");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual((await bus.get(id))?.outcome, { ok: true, result: { paused: true } });
    await runner.stop();
    bus.close();
    await leader.close();
    await follower.close();
  });

  it("on the leader a command runs at once, not through the store", async () => {
    const { leader } = stores();
    const bus = new CommandBus({
      store: leader,
      leader: () => async (c) => ({ ran: c.kind }),
      clock: systemClock,
      log,
    });
    assert.deepEqual(await bus.submit({ kind: "resume", service: "web", args: {}, actor: "op" }), {
      done: true,
      result: { ran: "resume" },
    });
    assert.deepEqual(await leader.pendingCommands(), []);
    bus.close();
    await leader.close();
  });
});

// ---- exactly once across a change of leader, on a real controller and store ----

const SHOP = Spec.parse({ services: [shop()] }).services;
const OPERATOR = "operator:ci";

/** A leader: the lease taken, a controller on the fenced store, a runner carrying commands out. */
interface Leader {
  store: Store;
  controller: Controller;
  /**
   * Makes the next commit's `when` seam throw: a fenced refusal (the leader is gone there), or
   * an ordinary failure (the command fails after its commit, the leader carries on).
   */
  dieAt(when: "beforeCommit" | "afterCommit", how?: "fenced" | "failed"): void;
  /** Set once a write was refused (the runner stepped down). */
  fenced: unknown[];
  start(): void;
  /** Gone without finishing anything: the lease handed over (as if it had expired). */
  die(): Promise<void>;
  stop(): Promise<void>;
}

/** Every leader a case started, stopped after it (a failed assertion must not leave one running). */
const leaders: Leader[] = [];
afterEach(async () => {
  for (const l of leaders.splice(0)) await l.stop();
});

/** Opens another connection to the case's database (another instance). */
type Open = () => Store | Promise<Store>;

async function lead(open: Open, holder: string): Promise<Leader> {
  const store = await open();
  const lease = await store.acquireLease(CONTROLLER_LEASE, holder, 60_000);
  assert.ok(lease, `${holder} takes the lease`);
  const onLease = store.fenced({ lease: CONTROLLER_LEASE, holder, epoch: lease.epoch });
  let dieAt: string | undefined;
  let how = "fenced";
  const die = (when: string) => () => {
    if (dieAt !== when) return;
    dieAt = undefined;
    if (how === "failed") throw new Error("the router's host went away");
    throw new FencedError(CONTROLLER_LEASE, holder, lease.epoch, undefined);
  };
  const controller = new Controller({
    store: onLease,
    router: new NoopTrafficProvider(),
    clock: new ManualClock(),
    log,
    faults: { beforeCommit: die("beforeCommit"), afterCommit: die("afterCommit") },
  });
  // As a new leader does: the applied spec in the store, else its own.
  const applied = (await store.getAppliedSpec())?.spec as { services: Service[] } | undefined;
  await controller.start(applied?.services ?? SHOP, [], "start", applied?.services);
  const fenced: unknown[] = [];
  const runner = new CommandRunner({
    store: onLease,
    execute: commandExecutor(controller),
    committedAnswer: committedAnswer(controller),
    describe: describeErr,
    clock: systemClock,
    log,
    tickMs: 20,
    // As the cluster does: a fenced write ends the term at once (no second pass of the runner).
    onFenced: (err) => {
      fenced.push(err);
      void stop();
    },
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await runner.stop();
      await controller.stop();
    })();
    return stopping;
  };
  return {
    store,
    controller,
    fenced,
    dieAt: (when, failure = "fenced") => {
      dieAt = when;
      how = failure;
    },
    start: () => runner.start(),
    die: async () => {
      await stop();
      await store.releaseLease(CONTROLLER_LEASE, holder, lease.epoch);
    },
    stop: async () => {
      await stop();
      await store.close();
    },
  };
}

async function until<T>(what: string, read: () => Promise<T | undefined | null>): Promise<T> {
  const end = performance.now() + 10_000;
  for (;;) {
    const value = await read();
    if (value != null) return value;
    assert.ok(performance.now() < end, `waited too long for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Waits until the rollout the case deployed waits at `step` (the 1m pause): nothing more is
 * committed until a command, so the fault hits the command's own commit and no step of the drive.
 */
const atStep = (l: Leader, step: number) =>
  until(`step ${step}`, async () =>
    (await l.controller.rollout("shop"))?.stepIndex === step ? true : undefined,
  );

const settled = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/**
 * Leader A takes a stored command and dies at `when`; leader B (the next epoch) takes over the
 * same store. Resolves to B's recorded outcome and the history, for the caller to count.
 */
async function handOver(
  open: Open,
  prepare: (a: Leader) => Promise<void>,
  command: Omit<NewCommand, "id" | "actor" | "createdAt">,
  when: "beforeCommit" | "afterCommit",
) {
  const a = await lead(open, "a");
  leaders.push(a);
  await prepare(a);
  await settled();
  const seen = (await a.store.eventsAfter(0)).length;
  const id = `c-${command.kind}`;
  await a.store.putCommand({ ...command, id, actor: OPERATOR, createdAt: 1 });
  a.dieAt(when);
  a.start();
  await until("A to be fenced", async () => a.fenced[0]);
  assert.equal((await a.store.getCommand(id))?.outcome, null, "A did not record an outcome");
  await a.die();

  const b = await lead(open, "b");
  leaders.push(b);
  b.start();
  const record = await until("B to finish the command", async () => {
    const c = await b.store.getCommand(id);
    return c?.outcome == null ? undefined : c;
  });
  await settled();
  const history = (await b.store.eventsAfter(0)).slice(seen);
  return { a, b, record, history };
}

/** Each case's own database: a SQLite file, or a database on one real Postgres 15 server. */
const backends: Array<[string, () => Promise<Open>]> = [
  [
    "sqlite",
    async () => {
      const file = join(dir, `commands-${++files}.db`);
      return () => openSqliteStore(file);
    },
  ],
  [
    "postgres",
    async () => {
      pg ??= await startPostgres();
      const url = await pg.createDatabase(`commands_${++files}`);
      return () => openPostgresStore(url);
    },
  ],
];
let pg: PostgresServer | undefined;
after(async () => {
  await pg?.stop();
});

for (const [backend, fresh] of backends)
  describe(`stored commands across a change of leader (${backend})`, () => {
    it("a promote committed by a leader that died before recording it is not carried out again", async () => {
      const { b, record, history } = await handOver(
        await fresh(),
        async (a) => {
          await a.controller.deploy("shop", V2, OPERATOR);
          await atStep(a, 1);
        },
        { kind: "promote", service: "shop", args: {} },
        "afterCommit",
      );
      const promoted = history.filter((e) => e.actor === OPERATOR);
      assert.deepEqual(
        promoted.map((e) => [e.type, e.data.skipped]),
        [["step.started", 1]],
        "the promotion past the 1m pause is in the history once",
      );
      assert.ok(record.committed !== null, "the commit was marked with the transition");
      assert.equal(record.outcome?.ok, true);
      const rollout = record.outcome?.ok
        ? (record.outcome.result as { rollout: Rollout }).rollout
        : undefined;
      // The answer is the rollout as B read it; the drive goes on from there (25 %, then the pause).
      const now = await until("B's drive to reach the second pause", async () => {
        const r = await b.controller.rollout("shop");
        return r !== undefined && r.stepIndex >= 3 ? r : undefined;
      });
      assert.equal(rollout?.id, now.id);
      assert.ok(
        rollout !== undefined && [2, 3].includes(rollout.stepIndex),
        `${rollout?.stepIndex}`,
      );
      assert.equal(now.stepIndex, 3, "waits at the second pause: no step skipped");
      const promotions = (await b.store.eventsAfter(0)).filter(
        (e) => e.actor === OPERATOR && e.type === "step.started",
      );
      assert.equal(promotions.length, 1, "still one promotion");
    });

    it("an undo committed by a dead leader is not undone again", async () => {
      const { b, record, history } = await handOver(
        await fresh(),
        async (a) => {
          await a.controller.deploy("shop", V2, OPERATOR);
          await a.controller.promote("shop", true, OPERATOR);
          await until("the promotion", async () =>
            (await a.controller.rollout("shop"))?.phase === "Healthy" ? true : undefined,
          );
        },
        { kind: "undo", service: "shop", args: {} },
        "afterCommit",
      );
      assert.deepEqual(
        history.filter((e) => e.type === "undo").map((e) => e.data),
        [{ from: "v2", to: "v1" }],
      );
      assert.equal((await b.controller.service("shop")).traffic.stable.version, "v1");
      assert.equal(record.outcome?.ok, true);
      const service = record.outcome?.ok
        ? (record.outcome.result as { service: ServiceState }).service
        : undefined;
      assert.equal(service?.traffic.stable.version, "v1");
      assert.equal(service?.previousStable?.version, "v2");
    });

    it("an apply committed by a dead leader answers the changes it made, once", async () => {
      const web = { name: "web", match: { pathPrefix: "/web" }, stable: V1 };
      const spec = JSON.stringify({ services: [shop(), web] });
      const { b, record, history } = await handOver(
        await fresh(),
        async () => {},
        { kind: "apply", service: null, args: { spec, dryRun: false } },
        "afterCommit",
      );
      assert.deepEqual(
        history.filter((e) => e.actor === OPERATOR).map((e) => [e.type, e.service]),
        [["service.created", "web"]],
      );
      assert.equal(record.outcome?.ok, true);
      const answer = record.outcome?.ok
        ? (record.outcome.result as { dryRun: boolean; changes: Array<{ kind: string }> })
        : undefined;
      assert.equal(answer?.dryRun, false);
      assert.deepEqual(
        answer?.changes.map((c) => c.kind),
        ["create"],
        "the answer the dead leader would have given",
      );
      assert.ok(b.controller.spec("web"));
    });

    it("a change of leader commits nothing by itself", async () => {
      // Services without a strategy: their traffic is compared with the stored one, which on
      // Postgres comes back from jsonb with its keys in another order.
      const open = await fresh();
      const a = await lead(open, "a");
      leaders.push(a);
      const spec = Spec.parse({
        services: [
          shop(),
          { name: "web", match: { pathPrefix: "/web" }, stable: V1 },
          { name: "api", match: { pathPrefix: "/api" }, stable: V1, canary: V2, weight: 20 },
        ],
      });
      await a.controller.applySpec(spec.services, OPERATOR, { dryRun: false, source: "api" });
      await settled();
      const seen = (await a.store.eventsAfter(0)).length;
      const applied = await a.store.getAppliedSpec();
      await a.die();
      const b = await lead(open, "b");
      leaders.push(b);
      await settled();
      assert.equal(
        (await b.store.getAppliedSpec())?.revision,
        applied?.revision,
        "the applied spec keeps its revision (routers see no new state)",
      );
      const since = (await b.store.eventsAfter(0)).slice(seen);
      assert.deepEqual(
        since.map((e) => `${e.type} ${e.service}: ${e.reason}`),
        [],
        "no event at takeover",
      );
    });

    it("a command that committed nothing before its leader died is carried out by the next", async () => {
      const { record, history } = await handOver(
        await fresh(),
        async (a) => {
          await a.controller.deploy("shop", V2, OPERATOR);
          await atStep(a, 1);
        },
        { kind: "promote", service: "shop", args: {} },
        "beforeCommit",
      );
      assert.deepEqual(
        history.filter((e) => e.actor === OPERATOR).map((e) => e.type),
        ["step.started"],
      );
      assert.ok(record.committed !== null, "B's commit marked it");
      assert.equal(record.outcome?.ok, true);
    });

    it("a command that fails after its commit is answered with what it committed", async () => {
      const a = await lead(await fresh(), "a");
      leaders.push(a);
      await a.controller.deploy("shop", V2, OPERATOR);
      await atStep(a, 1);
      await a.store.putCommand({
        id: "c-pause",
        kind: "pause",
        service: "shop",
        args: {},
        actor: OPERATOR,
        createdAt: 1,
      });
      a.dieAt("afterCommit", "failed");
      a.start();
      const record = await until("the outcome", async () => {
        const c = await a.store.getCommand("c-pause");
        return c?.outcome == null ? undefined : c;
      });
      assert.deepEqual(a.fenced, []);
      assert.equal(record.outcome?.ok, true, JSON.stringify(record.outcome));
      const rollout = record.outcome?.ok
        ? (record.outcome.result as { rollout: Rollout }).rollout
        : undefined;
      assert.equal(rollout?.phase, "Paused");
    });
  });
