import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LogSettings } from "../../../spec/dataplane.js";
import { isLoopbackHost } from "../../../util/address.js";

function problems(input: unknown): string[] {
  const r = LogSettings.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("dataplane.logs settings", () => {
  it("takes udp://HOST:PORT on loopback, IPv4 or IPv6", () => {
    for (const listen of ["udp://127.0.0.1:5514", "udp://[::1]:5514", "udp://localhost:5514"])
      assert.deepEqual(problems({ listen }), [], listen);
  });

  it("refuses anything but UDP, saying so", () => {
    for (const listen of [
      "unix:/run/aviary-logs.sock",
      "127.0.0.1:5514",
      "udp://127.0.0.1",
      "tcp://127.0.0.1:5514",
    ]) {
      const [p] = problems({ listen });
      assert.match(String(p), /^listen: expected udp:\/\/HOST:PORT.*UDP only/, listen);
    }
  });

  it("refuses a non-loopback address unless allowFrom names the engines", () => {
    for (const listen of [
      "udp://0.0.0.0:5514",
      "udp://10.0.0.2:5514",
      "udp://[::]:5514",
      "udp://127.example.com:5514",
    ])
      assert.match(String(problems({ listen })[0]), /^listen: not a loopback address/, listen);
    assert.deepEqual(
      problems({ listen: "udp://10.0.0.2:5514", allowFrom: ["10.0.0.5", "10.1.0.0/16"] }),
      [],
    );
    assert.match(
      String(problems({ listen: "udp://10.0.0.2:5514", allowFrom: [] })[0]),
      /^allowFrom/,
    );
    assert.match(
      String(problems({ listen: "udp://10.0.0.2:5514", allowFrom: ["10.0.0.300"] })[0]),
      /^allowFrom\.0: expected an address/,
    );
  });

  it("knows loopback hosts", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "localhost", "LOCALHOST"])
      assert.equal(isLoopbackHost(h), true, h);
    for (const h of [
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "::ffff:127.0.0.1",
      "127.example.com",
      "128.0.0.1",
    ])
      assert.equal(isLoopbackHost(h), false, h);
  });
});
