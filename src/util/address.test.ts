import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import {
  bindFailureMessage,
  checkListenAddresses,
  type ListenAddress,
  listenAddressesOverlap,
  listenConflict,
  parseListenAddress,
} from "./address.js";

const at = (text: string): ListenAddress => parseListenAddress(text) as ListenAddress;

describe("listenAddressesOverlap", () => {
  it("is the same port on hosts sharing an address; port 0 never collides", () => {
    const cases: Array<[string, string, boolean]> = [
      ["127.0.0.1:9900", "127.0.0.1:9900", true],
      ["0.0.0.0:9900", "127.0.0.1:9900", true],
      ["127.0.0.1:9900", "0.0.0.0:9900", true],
      ["[::]:9900", "127.0.0.1:9900", true],
      ["[::]:9900", "[::1]:9900", true],
      ["localhost:9900", "127.0.0.1:9900", true],
      ["LOCALHOST:9900", "localhost:9900", true],
      ["0.0.0.0:9900", "shop.internal:9900", true],
      ["0.0.0.0:9900", "[::1]:9900", false],
      ["127.0.0.1:9900", "127.0.0.1:9901", false],
      ["127.0.0.1:9900", "10.0.0.1:9900", false],
      ["127.0.0.1:0", "127.0.0.1:0", false],
      ["0.0.0.0:0", "127.0.0.1:0", false],
    ];
    for (const [a, b, expected] of cases)
      assert.equal(listenAddressesOverlap(at(a), at(b)), expected, `${a} ${b}`);
  });

  it("says why listen and admin cannot share an address, naming both", () => {
    assert.equal(listenConflict("0.0.0.0:8080", "127.0.0.1:9900"), undefined);
    assert.match(
      listenConflict("0.0.0.0:9900", "127.0.0.1:9900") ?? "",
      /admin address 127\.0\.0\.1:9900 .* listen address 0\.0\.0\.0:9900/,
    );
    assert.throws(
      () => checkListenAddresses(at("127.0.0.1:9900"), at("127.0.0.1:9900")),
      (err: Error & { code?: string }) => err.code === "AVIARY_USAGE",
    );
  });
});

describe("bindFailureMessage", () => {
  it("names the address, the listener it was for and the reason of a failed listen()", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as { port: number }).port;
    checkListenAddresses(at("127.0.0.1:0"), at(`127.0.0.1:${port}`));
    const second = createServer();
    const err = await new Promise<Error>((resolve) => {
      second.once("error", resolve);
      second.listen(port, "127.0.0.1");
    });
    holder.close();
    assert.equal(
      bindFailureMessage(err),
      `cannot listen on 127.0.0.1:${port} for the admin server (admin): another process (another aviary?) already listens there (EADDRINUSE)`,
    );
    assert.equal(bindFailureMessage(new Error("something else")), undefined);
    assert.equal(bindFailureMessage("text"), undefined);
  });
});
