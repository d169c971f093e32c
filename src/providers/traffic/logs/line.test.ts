import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type LogEntry, parseLine } from "./line.js";

function entry(line: string): LogEntry {
  const r = parseLine(line);
  assert.ok(r.ok, `expected ${JSON.stringify(line)} to parse, got: ${r.ok ? "" : r.reason}`);
  return r.entry;
}

function reason(line: string): string {
  const r = parseLine(line);
  assert.ok(!r.ok, `expected ${JSON.stringify(line)} to be malformed`);
  return r.reason;
}

const BASE = "aviary1 svc=checkout ver=v1.3.0+build.7 role=stable st=200";

describe("parseLine on the contract", () => {
  it("reads a response with ms (integer or decimal) and with sec", () => {
    assert.deepEqual(entry(`${BASE} ms=12`), {
      service: "checkout",
      version: "v1.3.0+build.7",
      role: "stable",
      status: 200,
      latencyMs: 12,
    });
    assert.equal(entry(`${BASE} ms=0.25`).latencyMs, 0.25);
    assert.equal(entry(`${BASE} sec=0.001`).latencyMs, 1);
    assert.equal(entry(`${BASE} sec=2`).latencyMs, 2000);
    assert.equal(entry(`${BASE} sec=0.000`).latencyMs, 0, "nginx's $request_time for a fast one");
  });

  it("reads a failure with the status the engine answered", () => {
    for (const [kind, st] of [
      ["connect", 502],
      ["timeout", 504],
      ["reset", 502],
    ] as const) {
      const e = entry(`aviary1 svc=cart ver=v2 role=canary st=${st} ms=3010 fail=${kind}`);
      assert.equal(e.failure, kind);
      assert.equal(e.status, st);
      assert.equal(e.role, "canary");
    }
  });

  it("round-trips any names the spec allows and any latency", () => {
    const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,20}$/);
    fc.assert(
      fc.property(
        name,
        name,
        fc.constantFrom("stable", "canary"),
        fc.integer({ min: 100, max: 599 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.option(fc.constantFrom("connect", "timeout", "reset"), { nil: undefined }),
        (svc, ver, role, st, ms, fail) => {
          const line = `aviary1 svc=${svc} ver=${ver} role=${role} st=${st} ms=${ms}${fail ? ` fail=${fail}` : ""}`;
          const e = entry(line);
          assert.deepEqual(
            e,
            fail === undefined
              ? { service: svc, version: ver, role, status: st, latencyMs: ms }
              : { service: svc, version: ver, role, status: st, latencyMs: ms, failure: fail },
          );
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("parseLine refusals", () => {
  it("refuses other lines and other field layouts", () => {
    assert.match(reason(""), /does not start/);
    assert.match(reason("aviary2 svc=a ver=b role=stable st=200 ms=1"), /does not start/);
    assert.match(reason('127.0.0.1 - - "GET / HTTP/1.1" 200'), /does not start/);
    assert.match(reason(`${BASE}`), /expected 5 or 6 fields/);
    assert.match(reason(`${BASE} ms=1 fail=reset extra=1`), /expected 5 or 6 fields/);
    assert.match(reason(`${BASE}  ms=1`), /single spaces/);
    assert.match(reason(`${BASE} ms=1 `), /single spaces/);
    assert.match(reason("aviary1 ver=b svc=a role=stable st=200 ms=1"), /field 1 must be svc/);
    assert.match(reason(`${BASE} dur=1`), /field 5 must be ms or sec/);
    assert.match(reason(`${BASE} ms=1 failure=reset`), /field 6 must be fail/);
    assert.match(reason(`${BASE} ms`), /field 5/);
    assert.match(reason("aviary1 svc= ver=b role=stable st=200 ms=1"), /svc is empty/);
  });

  it("refuses values out of the contract", () => {
    const at = (role: string, st: string, ms: string) =>
      reason(`aviary1 svc=a ver=b role=${role} st=${st} ms=${ms}`);
    assert.match(at("mirror", "200", "1"), /role/);
    assert.match(at("Stable", "200", "1"), /role/);
    for (const st of ["-1", "0", "000", "099", "600", "20", "2000", "2e2", "+200"])
      assert.match(at("stable", st, "1"), /st must be/, st);
    for (const ms of ["-1", "1e3", "1.", ".5", "NaN", "Infinity", "0x10", "1234567890", "1,5"])
      assert.match(at("stable", "200", ms), /ms must be/, ms);
    assert.match(reason(`${BASE} sec=-0.1`), /sec must be/);
    assert.match(reason(`${BASE} ms=1 fail=refused`), /fail must be/);
    assert.match(reason("aviary1 svc=a=b ver=b role=stable st=200 ms=1"), /'='/);
  });

  it("refuses bytes outside printable ASCII (non-UTF-8 arrives as latin1 characters)", () => {
    assert.match(reason("aviary1 svc=caf\u00e9 ver=b role=stable st=200 ms=1"), /printable/);
    assert.match(reason("aviary1 svc=a ver=b\u0000 role=stable st=200 ms=1"), /printable/);
    assert.match(reason("aviary1 svc=a ver=b\trole=stable st=200 ms=1"), /fields/);
    assert.match(reason(`${BASE} ms=1\n`), /ms holds a byte/);
  });

  it("never throws", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: "binary" }), (s) => {
        assert.equal(typeof parseLine(s).ok, "boolean");
        assert.equal(typeof parseLine(`aviary1 ${s}`).ok, "boolean");
      }),
      { numRuns: 5000 },
    );
    assert.equal(parseLine(`aviary1 ${" ".repeat(8192)}`).ok, false);
  });
});
