/**
 * Flags in a spec without an OFREP listener are stored but nobody can evaluate them: `aviary
 * serve` says so at start, so that declared flags are not taken for served ones.
 */

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";

const services = [
  {
    name: "shop",
    match: { pathPrefix: "/shop" },
    stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
  },
];

const flags = [
  {
    key: "new-checkout",
    type: "boolean" as const,
    variants: { on: true, off: false },
    defaultVariant: "off",
  },
];

function capturingLogger() {
  const lines: Array<{ level: number; msg: string; flags?: string[] }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim() !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: "info" }, sink), lines };
}

describe("flags declared in a spec", () => {
  const open: TestAdmin[] = [];
  after(async () => {
    for (const o of open) await o.close();
  });

  it("a start with flags and no OFREP listener warns, naming them", async () => {
    const { log, lines } = capturingLogger();
    open.push(await startAdmin({ spec: { services, flags }, log }));
    const warning = lines.find((l) => l.msg.includes("no client can evaluate them"));
    assert.ok(warning, JSON.stringify(lines.map((l) => l.msg)));
    assert.equal(warning.level, 40);
    assert.deepEqual(warning.flags, ["new-checkout"]);
  });

  it("a start with flags and an OFREP listener says nothing of them", async () => {
    const { log, lines } = capturingLogger();
    open.push(
      await startAdmin({ spec: { services, flags, ofrep: { listen: "127.0.0.1:0" } }, log }),
    );
    assert.equal(lines.filter((l) => l.msg.includes("feature flags")).length, 0);
  });

  it("a start without flags says nothing of them", async () => {
    const { log, lines } = capturingLogger();
    open.push(await startAdmin({ spec: { services }, log }));
    assert.equal(lines.filter((l) => l.msg.includes("feature flags")).length, 0);
  });
});
