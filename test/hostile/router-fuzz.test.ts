/**
 * Property-based fuzzing of the router's request handling over raw sockets: random request
 * lines, header sets (duplicate and conflicting framing, several Hosts, bad bytes, hop-by-hop
 * fields, oversized values) and bodies. Whatever arrives:
 *
 * - the process does not crash and the router keeps answering ordinary requests;
 * - no target is blamed: with healthy upstreams no version records a failure and no target is
 *   ejected (one failure would eject it), and when the router answers by itself the versions'
 *   request counts do not move;
 * - no request is answered by the wrong version: at weight 0 only a request whose `x-canary`
 *   header matches the route reaches the canary;
 * - nothing leaks: once every connection is closed, no request is in flight and no target
 *   counts one as running.
 *
 * Bounded: a fixed seed (FUZZ_SEED overrides it, FUZZ_RUNS the number of runs), printed so a
 * failure can be replayed.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { Pool } from "undici";
import { startRouter, startUpstream, type TestRouter, type Upstream } from "../fixtures.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

interface Req {
  method: string;
  path: string;
  version: string;
  headers: Array<[string, string]>;
  body: string;
  eol: string;
}

/** Mostly `common`, sometimes `rare`: enough ordinary requests reach the upstreams. */
const mostly = <T>(common: fc.Arbitrary<T>, rare: fc.Arbitrary<T>, odds = 8) =>
  fc.oneof({ arbitrary: common, weight: odds }, { arbitrary: rare, weight: 1 });

const method = mostly(
  fc.constantFrom("GET", "GET", "POST", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"),
  fc.constantFrom("TRACE", "CONNECT", "PROPFIND", "M-SEARCH", "get", "FOO", "G\tT", ""),
);
const pathTail = fc.string({
  unit: mostly(
    fc.constantFrom("a", "b", "/", ".", "..", "%2e", "%2F", "?", "=", "~"),
    fc.constantFrom("%", "%zz", "#", "\\", " ", "\x00", "\x7f", "\xff", "*"),
    12,
  ),
  maxLength: 8,
});
const path = mostly(
  fc
    .tuple(
      mostly(fc.constantFrom("/w0", "/hr", "/"), fc.constantFrom("", "*", "http://app/hr", "//hr")),
      pathTail,
    )
    .map(([a, b]) => a + b),
  fc.constant(`/hr/${"x".repeat(20_000)}`),
  30,
);
const version = mostly(
  fc.constantFrom("HTTP/1.1", "HTTP/1.0"),
  fc.constantFrom("HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3", "http/1.1", ""),
);
const badByte = fc.constantFrom("\x00", "\x01", "\x7f", "\x80", "\xff", "\t", "\r", " ", ",", ":");
const headerValue = mostly(
  fc.constantFrom("", "x", " padded ", "a, b", "text/plain"),
  fc.tuple(fc.constantFrom("a", ""), badByte, fc.constantFrom("b", "")).map((p) => p.join("")),
  4,
);
const header: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom("Host", "host", "HOST"),
      fc.constantFrom("app", "evil", "", "app:80", "a b", "a,b"),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom("Content-Length", "content-length"),
      fc.constantFrom("0", "3", "5", "-1", "abc", "3, 3", "+3", " 3", "99999999999999999999"),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom("Transfer-Encoding", "transfer-encoding"),
      fc.constantFrom(
        "chunked",
        "gzip",
        "chunked, chunked",
        "gzip, chunked",
        "identity",
        "Chunked",
        "chunked ",
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constant("Connection"),
      fc.constantFrom(
        "close",
        "keep-alive",
        "upgrade",
        "x-canary",
        "x-forwarded-for, via",
        "host",
        "content-length",
        "",
      ),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constant("Upgrade"), fc.constantFrom("websocket", "h2c", "foo")),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant("Expect"), fc.constantFrom("100-continue", "foo")) },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom(
        "Keep-Alive",
        "TE",
        "Trailer",
        "Proxy-Connection",
        "X-Forwarded-For",
        "Forwarded",
        "Via",
      ),
      headerValue,
    ),
  },
  {
    weight: 6,
    arbitrary: fc.tuple(
      fc.constantFrom("x-canary", "X-Canary"),
      fc.constantFrom("yes", "yes", "no", "YES", " yes", "yes "),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(
      mostly(
        fc.constantFrom("x-a", "X-B", "cookie", "content-type"),
        fc
          .tuple(fc.constantFrom("x", ""), badByte, fc.constantFrom("y", ""))
          .map((p) => p.join("")),
        4,
      ),
      headerValue,
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constant("x-big"),
      mostly(fc.constant("v".repeat(8_000)), fc.constant("v".repeat(20_000)), 2),
    ),
  },
);
const request: fc.Arbitrary<Req> = fc.record({
  method,
  path,
  version,
  // Usually one Host first, as clients send it; the random ones may add more.
  headers: fc
    .tuple(mostly(fc.constant(true), fc.constant(false), 6), fc.array(header, { maxLength: 5 }))
    .map(([host, rest]): Array<[string, string]> => (host ? [["Host", "app"], ...rest] : rest)),
  body: mostly(
    fc.constant(""),
    fc.constantFrom("abc", "abcde", "3\r\nabc\r\n0\r\n\r\n", "0\r\n\r\n", "zz\r\n"),
    4,
  ),
  eol: mostly(fc.constant("\r\n"), fc.constant("\n"), 15),
});

function serialise(r: Req): Buffer {
  const line = [r.method, r.path, r.version].filter((p) => p !== "").join(" ");
  const head = [line, ...r.headers.map(([n, v]) => `${n}: ${v}`)].join(r.eol);
  return Buffer.from(`${head}${r.eol}${r.eol}${r.body}`, "latin1");
}

/** What the router would capture as `x-canary`: every value trimmed, joined with ", ". */
function canaryHeader(r: Req): string | undefined {
  const values = r.headers.filter(([n]) => n.toLowerCase() === "x-canary").map(([, v]) => v.trim());
  return values.length === 0 ? undefined : values.join(", ");
}

/** Sends the bytes and reads until the router closes, or has been quiet a while after answering. */
async function exchange(port: number, bytes: Buffer): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  let quiet: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    const cap = setTimeout(resolve, 400);
    const done = () => {
      clearTimeout(cap);
      clearTimeout(quiet);
      resolve();
    };
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      clearTimeout(quiet);
      quiet = setTimeout(done, 40);
    });
    socket.once("close", done);
    socket.write(bytes);
  });
  socket.destroy();
  return Buffer.concat(chunks).toString("latin1");
}

describe("fuzzing the router's request handling", () => {
  let stable: Upstream;
  let canary: Upstream;
  let router: TestRouter;
  let pool: Pool;

  before(async () => {
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
    const versions = {
      stable: { version: "v1", targets: [stable.url] },
      canary: { version: "v2", targets: [canary.url] },
      // A single failure put down to a target would eject it: the property would see it.
      outlierDetection: { consecutiveFailures: 1 },
      weight: 0,
    };
    router = await startRouter(
      [
        { name: "w0", match: { pathPrefix: "/w0" }, ...versions },
        {
          name: "hr",
          match: { pathPrefix: "/" },
          ...versions,
          routes: [{ match: { headers: { "x-canary": { exact: "yes" } } }, to: "canary" }],
        },
      ],
      { proxy: { requestBodyTimeout: "1s" } },
    );
    pool = new Pool(router.url, { connections: 1 });
  });
  after(async () => {
    await pool.close();
    await router.close();
    await Promise.all([stable.close(), canary.close()]);
  });

  const counts = () => {
    const now = Date.now();
    let requests = 0;
    let failures = 0;
    for (const service of ["w0", "hr"])
      for (const version of ["v1", "v2"]) {
        const m = router.metrics.query({ service, version, from: now - 600_000, to: now + 1_000 });
        requests += m.requests;
        failures += m.failures.connect + m.failures.timeout + m.failures.reset;
      }
    return { requests, failures };
  };
  const targets = () =>
    router.router.plan.services.flatMap((s) => [
      ...s.stable.targets.targets,
      ...(s.canary?.targets.targets ?? []),
    ]);

  it(`never crashes, blames no target, and answers from the right version (seed ${SEED}, ${RUNS} runs)`, async () => {
    console.log(`router fuzz: seed ${SEED}, ${RUNS} runs (FUZZ_SEED / FUZZ_RUNS to change)`);
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const before = counts();
        const raw = await exchange(router.port, serialise(r));
        const answeredBy = [...raw.matchAll(/\r\nx-upstream: (\w+)\r\n/gi)].map((m) => m[1]);
        for (const name of answeredBy) {
          if (name === "canary")
            assert.equal(
              canaryHeader(r),
              "yes",
              "only a request matching the route reaches the canary",
            );
        }
        const after = counts();
        assert.equal(after.failures, 0, "no version recorded a failure");
        if (answeredBy.length === 0 && /^HTTP\/1\.1 4\d\d /.test(raw))
          assert.equal(
            after.requests,
            before.requests,
            "the router's own 4xx is no version's request",
          );
        for (const t of targets()) {
          assert.equal(t.ejections, 0, `${t.origin} was ejected`);
          assert.equal(t.isAvailable(Date.now()), true);
        }
        // The router still answers an ordinary request, from stable.
        const res = await pool.request({ path: "/w0/ok", method: "GET", headers: { host: "app" } });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers["x-upstream"], "stable");
        await res.body.dump();
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // Nothing leaks once every connection is gone (stalled uploads are cut after 1 s).
    const start = Date.now();
    while (router.router.inFlight > 0 && Date.now() - start < 10_000)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(router.router.inFlight, 0, "no request left in flight");
    for (const t of targets()) assert.equal(t.active, 0, `${t.origin} still counts a request`);
    assert.equal(counts().failures, 0);
  });
});
