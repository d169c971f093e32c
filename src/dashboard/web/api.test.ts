import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiClient, ApiError } from "./api.js";

interface Seen {
  url: string;
  init: RequestInit;
}

const headersOf = (s: Seen | undefined) => (s?.init.headers ?? {}) as Record<string, string>;

function client(answer: () => Response | Promise<Response>, token: string | null = "tkn-123") {
  const seen: Seen[] = [];
  const samples: unknown[] = [];
  const api = new ApiClient({
    token: () => token,
    onAnswer: (s) => samples.push(s),
    now: () => 1_000,
    fetch: (async (url: RequestInfo | URL, init?: RequestInit) => {
      seen.push({ url: String(url), init: init ?? {} });
      return answer();
    }) as typeof fetch,
  });
  return { api, seen, samples };
}

const json = (body: unknown, status = 200, type = "application/json") =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": type, date: "Sat, 01 Mar 2025 12:00:00 GMT" },
  });

describe("API client", () => {
  it("sends the bearer token in the header only, and reports the answer's Date for the clock", async () => {
    const { api, seen, samples } = client(() => json({ services: [] }));
    await api.services();
    assert.equal(seen[0]?.url, "/api/v1/services");
    assert.equal(headersOf(seen[0]).authorization, "Bearer tkn-123");
    assert.ok(!seen[0]?.url.includes("tkn-123"));
    assert.deepEqual(samples, [
      { sentAt: 1_000, receivedAt: 1_000, date: "Sat, 01 Mar 2025 12:00:00 GMT" },
    ]);
  });

  it("sends no Authorization header without a token (anonymous reads)", async () => {
    const { api, seen } = client(() => json({ name: "anonymous", role: "anonymous" }), null);
    assert.deepEqual(await api.whoami(), { name: "anonymous", role: "anonymous" });
    assert.equal(headersOf(seen[0]).authorization, undefined);
  });

  it("whoami can try a token before it is stored", async () => {
    const { api, seen } = client(() => json({ name: "ci", role: "operator" }), null);
    await api.whoami("candidate");
    assert.equal(headersOf(seen[0]).authorization, "Bearer candidate");
  });

  it("encodes names in paths and posts JSON bodies", async () => {
    const { api, seen } = client(() => json({ rollout: {} }));
    await api.command("a b", "abort", { reason: "5xx" });
    await api.openGate("shop", "change/board");
    await api.metrics("shop", "5m", "5s");
    await api.history("shop", 41, 1000);
    assert.deepEqual(
      seen.map((s) => `${s.init.method} ${s.url} ${s.init.body ?? ""}`),
      [
        'POST /api/v1/services/a%20b/abort {"reason":"5xx"}',
        "POST /api/v1/services/shop/gates/change%2Fboard/open {}",
        "GET /api/v1/services/shop/metrics?window=5m&step=5s ",
        "GET /api/v1/services/shop/history?after=41&limit=1000 ",
      ],
    );
    assert.equal(headersOf(seen[0])["content-type"], "application/json");
  });

  it("turns a problem+json refusal into an ApiError with the problem's detail", async () => {
    const { api } = client(() =>
      json(
        {
          type: "urn:aviary:problem:at-gate",
          title: "Conflict",
          status: 409,
          detail: "the rollout of v2 waits at gate change-board",
          code: "AVIARY_AT_GATE",
        },
        409,
        "application/problem+json",
      ),
    );
    await assert.rejects(api.command("shop", "promote", { full: false }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 409);
      assert.equal(err.code, "AVIARY_AT_GATE");
      assert.equal(err.detail, "the rollout of v2 waits at gate change-board");
      return true;
    });
  });

  it("says the status when the answer is not a problem, and says when the server is unreachable", async () => {
    const plain = client(
      () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    );
    await assert.rejects(plain.api.services(), { message: "the server answered 502 Bad Gateway" });
    const down = client(() => Promise.reject(new TypeError("Failed to fetch")));
    await assert.rejects(down.api.services(), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, "AVIARY_UNREACHABLE");
      assert.match(err.detail, /cannot reach the Aviary admin server \(Failed to fetch\)/);
      assert.ok(!err.detail.includes("tkn-123"), "the token is never in an error");
      return true;
    });
  });

  it("refuses a 200 whose body is not JSON, naming the call", async () => {
    const { api } = client(() => new Response("oops", { status: 200 }));
    await assert.rejects(api.services(), {
      message: "GET /api/v1/services answered 200 with a body that is not JSON",
    });
  });
});
