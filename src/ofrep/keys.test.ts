/** Client keys and change-stream tickets against a real tokens file. */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TokenRegistry } from "../api/tokens.js";
import { hashToken } from "../api/tokens-file.js";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import { checkClientKey, checkTicket, issueTicket, TICKET_WINDOW_MS } from "./keys.js";

function registry(clock: ManualClock, lines: string[]): TokenRegistry {
  const file = join(mkdtempSync(join(tmpdir(), "aviary-keys-")), "tokens");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return new TokenRegistry({ operatorToken: "operator-secret", file, clock, log: silentLogger() });
}

describe("client keys", () => {
  const clock = new ManualClock(10 * TICKET_WINDOW_MS + 5);
  const tokens = registry(clock, [
    `sha256:${hashToken("the-client-key")} client web`,
    `sha256:${hashToken("the-viewer")} read-only viewer`,
  ]);

  it("accepts the client role only, as Bearer or X-API-Key", () => {
    assert.deepEqual(checkClientKey(tokens, { authorization: "Bearer the-client-key" }), {
      ok: true,
      identity: { name: "web", role: "client" },
    });
    assert.equal(checkClientKey(tokens, { "x-api-key": "the-client-key" }).ok, true);
    const viewer = checkClientKey(tokens, { "x-api-key": "the-viewer" });
    assert.equal(!viewer.ok && viewer.status, 403);
    const operator = checkClientKey(tokens, { authorization: "Bearer operator-secret" });
    assert.equal(!operator.ok && operator.status, 403);
    const none = checkClientKey(tokens, {});
    assert.equal(!none.ok && none.status, 401);
    const basic = checkClientKey(tokens, { authorization: "Basic dXNlcjpwYXNz" });
    assert.equal(!basic.ok && basic.status, 401);
  });

  it("a ticket is the same string for its hour, good for that hour and the next only", () => {
    const ticket = issueTicket(tokens, "web", clock.now());
    assert.ok(ticket !== undefined);
    assert.ok(!ticket.includes("the-client-key"));
    assert.equal(issueTicket(tokens, "web", clock.now() + 1_000), ticket);
    assert.equal(checkTicket(tokens, ticket, clock.now()), "web");
    assert.equal(checkTicket(tokens, ticket, clock.now() + TICKET_WINDOW_MS), "web");
    assert.equal(checkTicket(tokens, ticket, clock.now() + 2 * TICKET_WINDOW_MS), undefined);
    assert.equal(
      checkTicket(
        tokens,
        ticket.replace(/.$/, (c) => (c === "A" ? "B" : "A")),
        clock.now(),
      ),
      undefined,
    );
    assert.equal(checkTicket(tokens, ticket.replace("web.", "viewer."), clock.now()), undefined);
    assert.equal(issueTicket(tokens, "viewer", clock.now()), undefined, "not a client key");
  });
});
