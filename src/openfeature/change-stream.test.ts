/**
 * The change stream reader against a real local HTTP server speaking SSE: events asking to
 * refetch are told, comments and other events are not, an event split across writes and CRLF
 * line ends are read, and the stream is given up (once) when it answers anything but 200, ends,
 * or stays silent past its idle time.
 */

import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { followChanges } from "./change-stream.js";

let base: string;
let handle: (res: ServerResponse) => void = () => {};
const server = createServer((_req, res) => handle(res));

before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/changes`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** Follows the stream until it ends; what it saw. */
function follow(idleMs = 5_000) {
  const seen = { opened: 0, changes: 0, ends: [] as string[] };
  let ended: () => void = () => {};
  const done = new Promise<void>((r) => {
    ended = r;
  });
  const stream = followChanges(base, {
    idleMs,
    onOpen: () => seen.opened++,
    onChange: () => seen.changes++,
    onEnd: (err) => {
      seen.ends.push(err.message);
      ended();
    },
  });
  return { seen, done, stream };
}

const sse = (res: ServerResponse) =>
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });

describe("the change stream", () => {
  it("tells each refetch event, whatever the writes' boundaries and line ends", async () => {
    handle = (res) => {
      sse(res);
      res.write("retry: 2000\n\n: heartbeat\n\n");
      res.write('data: {"type":"refetchEvaluation","etag":"\\"4\\""}\n\n');
      res.write('data: {"type":"refetchEval');
      setTimeout(() => {
        res.write('uation"}\r');
        res.write("\n\r\n");
        res.write('event: other\ndata: {"type":"somethingElse"}\n\n');
        res.end();
      }, 50);
    };
    const f = follow();
    await f.done;
    assert.deepEqual(f.seen, { opened: 1, changes: 2, ends: ["the change stream ended"] });
  });

  it("gives up a stream that answers anything but 200, without opening it", async () => {
    handle = (res) => res.writeHead(401, { "content-type": "application/json" }).end("{}");
    const f = follow();
    await f.done;
    assert.deepEqual(f.seen, { opened: 0, changes: 0, ends: ["the change stream answered 401"] });
  });

  it("gives up a stream that stays silent past its idle time, and a heartbeat keeps it", async () => {
    let beats: NodeJS.Timeout | undefined;
    handle = (res) => {
      sse(res);
      let n = 0;
      // Three heartbeats 100 ms apart keep a 250 ms idle time at bay; then silence.
      beats = setInterval(() => {
        if (++n <= 3) res.write(": heartbeat\n\n");
      }, 100);
    };
    const started = performance.now();
    const f = follow(250);
    await f.done;
    clearInterval(beats);
    assert.deepEqual(f.seen, {
      opened: 1,
      changes: 0,
      ends: ["the change stream was silent for 250 ms"],
    });
    assert.ok(performance.now() - started >= 300, "the heartbeats kept it open");
  });

  it("refuses an event larger than any of Aviary's", async () => {
    handle = (res) => {
      sse(res);
      res.write(`data: ${"x".repeat(70 * 1024)}`);
    };
    const f = follow();
    await f.done;
    assert.match(f.seen.ends[0] ?? "", /over 65536 characters/);
  });

  it("says nothing once closed", async () => {
    handle = (res) => {
      sse(res);
      res.write(": open\n\n");
    };
    const f = follow();
    await new Promise((r) => setTimeout(r, 100));
    f.stream.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(f.seen, { opened: 1, changes: 0, ends: [] });
  });
});
