/**
 * The HA fault harness's own pieces, alone: the history checker on made-up histories, and the
 * HAProxy front with the load generator against two real processes of which one is SIGKILLed
 * under load (the front's retries must cost the client nothing) and started again.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freeTcpPort } from "../src/util/ports.js";
import { type Front, startFront } from "./support/ha-front.js";
import { checkHistory, expectedTransitions, type HistoryEvent } from "./support/ha-history.js";
import { startLoad } from "./support/ha-load.js";
import { ManagedProcess } from "./support/ha-process.js";

const STEPS = [
  { setWeight: 10 },
  { pause: { duration: "1s" } },
  { setWeight: 50 },
  { pause: { duration: "1s" } },
];

function events(shapes: string[], rolloutId = "r1"): HistoryEvent[] {
  return shapes.map((s, i) => {
    const [type = "", step = "-", weight = "-"] = s.split(":");
    return {
      seq: i + 1,
      rolloutId,
      type,
      stepIndex: step === "-" ? null : Number(step),
      weight: weight === "-" ? null : Number(weight),
    };
  });
}

describe("the history checker", () => {
  const want = expectedTransitions(STEPS);

  it("derives the transitions a strategy records", () => {
    assert.deepEqual(want, [
      "rollout.started:0:0",
      "weight.set:0:10",
      "step.started:1:10",
      "step.started:2:10",
      "weight.set:2:50",
      "step.started:3:50",
      "step.started:4:50",
      "weight.set:4:100",
      "promoted:4:0",
    ]);
  });

  it("passes a clean history, finished or still going, and ignores convergence reports", () => {
    const clean = checkHistory(events(want), want);
    assert.equal(clean.duplicateTransitions, 0);
    assert.equal(clean.lostTransitions, 0);
    const going = checkHistory(
      events([...want.slice(0, 4), "traffic.applied:2:10", "traffic.applied:2:10"]),
      want,
    );
    assert.equal(going.duplicateTransitions, 0);
    assert.equal(going.lostTransitions, 0);
    assert.equal(going.rollouts[0]?.finished, false);
  });

  it("counts a transition recorded twice and a step skipped", () => {
    const dup = checkHistory(
      events([...want.slice(0, 3), "step.started:1:10", ...want.slice(3)]),
      want,
    );
    assert.equal(dup.duplicateTransitions, 1);
    assert.deepEqual(dup.rollouts[0]?.duplicates, [{ shape: "step.started:1:10", seqs: [3, 4] }]);
    const skipped = checkHistory(events(want.filter((s) => s !== "weight.set:2:50")), want);
    assert.equal(skipped.lostTransitions, 1);
    assert.deepEqual(skipped.rollouts[0]?.lost, ["weight.set:2:50"]);
    // A finished rollout missing its end is lost too.
    const cut = checkHistory(events([...want.slice(0, 7), "promoted:4:0"]), want);
    assert.deepEqual(cut.rollouts[0]?.lost, ["weight.set:4:100"]);
  });

  it("reports an aborted rollout with its reason instead of counting its later steps lost", () => {
    const list = events([...want.slice(0, 3), "aborted:1:0"]);
    const last = list.at(-1);
    if (last) Object.assign(last, { actor: "controller", reason: "superseded by v2" });
    const check = checkHistory(list, want);
    assert.equal(check.lostTransitions, 0);
    assert.equal(check.rollouts[0]?.aborted, "controller: superseded by v2");
  });
});

/** A plain HTTP server in its own process, on PORT, answering 200 with its name. */
function upstreamProcess(name: string, port: number): ManagedProcess {
  const script = `require("node:http").createServer((q, s) => { q.resume(); q.on("end", () => { s.writeHead(200, { "x-upstream": process.env.NAME }); s.end(process.env.NAME); }); }).listen(Number(process.env.PORT), "127.0.0.1", () => console.log(JSON.stringify({ msg: "listening" })));`;
  return new ManagedProcess({
    name,
    command: process.execPath,
    args: ["-e", script],
    env: { NAME: name, PORT: String(port) },
  });
}

describe("the front and the load", () => {
  let front: Front;
  const procs: ManagedProcess[] = [];
  before(async () => {
    const ports = [await freeTcpPort(), await freeTcpPort()];
    for (const [i, p] of ports.entries()) procs.push(upstreamProcess(`backend-${i + 1}`, p));
    for (const p of procs) {
      p.start();
      await p.waitFor((l) => l.msg === "listening", "listening");
    }
    front = await startFront(
      procs.map((p, i) => ({ name: p.name, address: `127.0.0.1:${ports[i]}` })),
    );
  });
  after(async () => {
    await front?.stop();
    for (const p of procs) await p.stop();
  });

  it("loses no request when a backend is SIGKILLed under load, and uses it again once back", async () => {
    const load = startLoad({ url: front.url, rate: 200 });
    await new Promise((r) => setTimeout(r, 1_000));
    await procs[0]?.kill();
    await new Promise((r) => setTimeout(r, 1_500));
    const mark = load.counts();
    procs[0]?.start();
    await procs[0]?.waitFor((l) => l.msg === "listening", "listening");
    // Up again: the health check (rise 2 × 300 ms) brings it back into the rotation.
    for (let i = 0; i < 50 && (load.since(mark).byVersion["backend-1"] ?? 0) === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    const counts = await load.stop();
    assert.equal(counts.failed, 0, JSON.stringify(counts.failures.slice(0, 10)));
    assert.ok(counts.ok > 300, `only ${counts.ok} answers`);
    assert.ok((load.since(mark).byVersion["backend-1"] ?? 0) > 0, "backend-1 never came back");
  });
});
