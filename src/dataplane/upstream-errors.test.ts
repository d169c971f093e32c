import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BODY_TIMEOUT_CODE, classifyUpstreamError } from "./upstream-errors.js";

const err = (code: string) => Object.assign(new Error(code), { code });

describe("whose fault a failed exchange is", () => {
  it("puts what undici refuses to send down to the request: 400, no target blamed", () => {
    for (const code of [
      "UND_ERR_INVALID_ARG",
      "UND_ERR_NOT_SUPPORTED",
      "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
      "UND_ERR_ABORTED",
    ]) {
      const f = classifyUpstreamError(err(code));
      assert.equal(f.blame, "request", code);
      assert.equal(f.status, 400, code);
      assert.equal(f.blame === "request" && f.reason, "bad_request");
    }
  });

  it("puts a stalled upload down to the request: 408", () => {
    const f = classifyUpstreamError(err(BODY_TIMEOUT_CODE));
    assert.deepEqual(
      [f.blame, f.status, f.blame === "request" && f.reason],
      ["request", 408, "body_timeout"],
    );
  });

  it("puts refusals, timeouts and resets down to the target", () => {
    const cases: Array<[string, string, number, boolean]> = [
      ["ECONNREFUSED", "connect", 502, true],
      ["UND_ERR_CONNECT_TIMEOUT", "timeout", 504, true],
      ["UND_ERR_HEADERS_TIMEOUT", "timeout", 504, false],
      ["UND_ERR_BODY_TIMEOUT", "timeout", 504, false],
      ["UND_ERR_SOCKET", "reset", 502, false],
      ["ECONNRESET", "reset", 502, false],
    ];
    for (const [code, kind, status, retryable] of cases) {
      const f = classifyUpstreamError(err(code));
      assert.equal(f.blame, "target", code);
      if (f.blame !== "target") continue;
      assert.deepEqual([f.kind, f.status, f.retryable], [kind, status, retryable], code);
    }
  });
});
