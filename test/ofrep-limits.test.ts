/**
 * The OFREP listener's bounds over real sockets: a body that stalls, a connection cap, and a
 * change stream ended once its client key is revoked.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { CLIENT_KEY, type OfrepAviary, startOfrepAviary } from "./ofrep-fixtures.js";

let av: OfrepAviary;

before(async () => {
  av = await startOfrepAviary({
    limits: { requestTimeoutMs: 500, headersTimeoutMs: 500, maxConnections: 3, heartbeatMs: 100 },
  });
});
after(async () => {
  await av?.close();
});

/** A raw connection to the OFREP port that reads (and drops) whatever comes. */
function open(write?: string): Promise<Socket> {
  const port = Number(new URL(av.ofrep).port);
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => {
      if (write !== undefined) s.write(write);
      resolve(s);
    });
    s.on("error", () => {});
    s.resume();
  });
}

const closed = (s: Socket) =>
  new Promise<boolean>((resolve) => {
    if (s.destroyed) return resolve(true);
    s.once("close", () => resolve(true));
    setTimeout(() => resolve(false), 5_000).unref();
  });

describe("OFREP listener bounds", () => {
  it("closes a connection whose body stops arriving (slow body)", async () => {
    const s = await open(
      "POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\n" +
        `X-API-Key: ${CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"con`,
    );
    assert.equal(await closed(s), true, "still open 5 s later");
  });

  it("takes no more than maxConnections at once", async () => {
    const held = [await open(), await open(), await open()];
    const extra = await open();
    assert.equal(await closed(extra), true, "a fourth connection was kept");
    for (const s of held) s.destroy();
  });

  it("ends a change stream once its client key is revoked", async () => {
    // The connections of the tests before have gone (the cap is 3).
    const server = av.aviary.ofrep?.server;
    for (let n = 1; n > 0; ) {
      n = await new Promise<number>((r) => server?.getConnections((_, c) => r(c)));
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await request(`${av.ofrep}/ofrep/v1/flag-changes`, {
      headers: { "x-api-key": CLIENT_KEY },
    });
    assert.equal(res.statusCode, 200);
    const ended = (async () => {
      let text = "";
      for await (const chunk of res.body) text += chunk.toString();
      return text;
    })();
    const file = join(av.dataDir, "tokens");
    const kept = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => !l.includes(" client "))
      .join("\n");
    writeFileSync(file, kept);
    const text = await Promise.race([
      ended,
      new Promise<string>((_, reject) =>
        setTimeout(() => reject(new Error("the stream outlived its key by 5 s")), 5_000).unref(),
      ),
    ]);
    assert.match(text, /^retry: /);
  });
});
