import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AviaryError } from "../errors.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { systemClock } from "../util/clock.js";
import { createLogger } from "../util/log.js";
import {
  CommandBus,
  CommandProblem,
  type CommandRequest,
  CommandRunner,
  type Execute,
} from "./commands.js";

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
