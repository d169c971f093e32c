/**
 * Gates and notifications over real HTTP: a running Aviary asks a confirm-promotion hook until
 * it answers 2xx, tells a post-rollout hook, and sends signed event webhooks that a receiver
 * verifies; an operator opens a manual gate with one API call.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { verifySignature } from "../src/notify/signature.js";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

const SECRET = "gates-e2e-signing-key";

interface Received {
  path: string;
  event: string;
  delivery: string;
  signed: boolean;
  body: Record<string, unknown>;
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("gates and notifications end to end", () => {
  let stable: Upstream;
  let canary: Upstream;
  let hooks: Upstream;
  let aviary: TestAdmin;
  const received: Received[] = [];
  let promotionAsks = 0;

  before(async () => {
    process.env.AVIARY_E2E_HOOK_SECRET = SECRET;
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
    hooks = await startUpstream("hooks", (req, res, body) => {
      const text = body.toString("utf8");
      received.push({
        path: req.url ?? "",
        event: String(req.headers["x-aviary-event"]),
        delivery: String(req.headers["x-aviary-delivery"]),
        signed: verifySignature(
          SECRET,
          req.headers["x-aviary-signature"] as string | undefined,
          text,
          Date.now(),
        ).ok,
        body: JSON.parse(text) as Record<string, unknown>,
      });
      // The release manager's hook says "not yet" twice, then yes.
      if (req.url === "/gates/promotion" && ++promotionAsks < 3) {
        res.writeHead(503, { "content-type": "text/plain" });
        res.end("release window opens soon");
        return;
      }
      res.writeHead(200);
      res.end();
    });
    const secret = { env: "AVIARY_E2E_HOOK_SECRET" };
    aviary = await startAdmin({
      spec: {
        services: [
          {
            name: "web",
            match: { pathPrefix: "/" },
            stable: { version: "v1", targets: [stable.url] },
            strategy: {
              steps: [{ setWeight: 20 }, { setWeight: 50 }],
              gates: [
                { name: "change-board", type: "confirm-rollout" },
                {
                  name: "release",
                  type: "confirm-promotion",
                  url: `${hooks.url}/gates/promotion`,
                  interval: "1s",
                  secret,
                  metadata: { ticket: "CHG-42" },
                },
                { name: "done", type: "post-rollout", url: `${hooks.url}/gates/done`, secret },
              ],
            },
          },
        ],
        notifications: [
          {
            name: "audit",
            url: `${hooks.url}/events`,
            secret,
            events: ["rollout.started", "gate.waiting", "gate.opened", "promoted"],
          },
        ],
      },
    });
  });

  after(async () => {
    await aviary?.close();
    await Promise.all([stable?.close(), canary?.close(), hooks?.close()]);
    delete process.env.AVIARY_E2E_HOOK_SECRET;
  });

  it("waits at each gate visibly, opens them by API and by hook, and reports every step signed", async () => {
    const deployed = await aviary.call("POST", "/api/v1/services/web/deploy", {
      token: aviary.operatorToken,
      body: { version: "v2", targets: [canary.url] },
    });
    assert.equal(deployed.status, 201, deployed.text);
    assert.equal(deployed.json.rollout.phase, "Waiting");
    assert.match(deployed.json.rollout.reason, /gate change-board before any traffic moves/);

    const refused = await aviary.call("POST", "/api/v1/services/web/gates/change-board/open", {});
    assert.equal(refused.status, 401, "opening a gate needs an operator token");
    const opened = await aviary.call("POST", "/api/v1/services/web/gates/change-board/open", {
      token: aviary.operatorToken,
      body: {},
    });
    assert.equal(opened.status, 200, opened.text);

    await until(
      "the rollout to be promoted",
      async () => (await aviary.aviary.controller.rollout("web"))?.phase === "Healthy",
    );
    assert.equal(promotionAsks, 3, "the hook was asked until it said yes");
    await until("the post-rollout hook", () => received.some((r) => r.path === "/gates/done"));
    await until("the promoted notification", () => received.some((r) => r.event === "promoted"));

    assert.ok(
      received.every((r) => r.signed),
      "every call is signed with the shared secret",
    );
    const asks = received.filter((r) => r.path === "/gates/promotion");
    assert.deepEqual(asks[0]?.body, {
      name: "release",
      type: "confirm-promotion",
      service: "web",
      rolloutId: deployed.json.rollout.id,
      phase: "Waiting",
      stable: "v1",
      canary: "v2",
      weight: 50,
      stepIndex: 2,
      metadata: { ticket: "CHG-42" },
    });
    assert.equal(asks[0]?.event, "gate.confirm-promotion");
    const done = received.find((r) => r.path === "/gates/done");
    assert.equal(done?.body.phase, "Healthy");

    const events = received.filter((r) => r.path === "/events").map((r) => r.event);
    assert.deepEqual(events, [
      "rollout.started",
      "gate.waiting",
      "gate.opened",
      "gate.waiting",
      "gate.opened",
      "promoted",
    ]);
    const history = await aviary.call("GET", "/api/v1/services/web/history", {
      token: aviary.operatorToken,
    });
    const byType = (t: string) =>
      (history.json.events as Array<{ type: string; actor: string; reason: string }>).filter(
        (e) => e.type === t,
      );
    assert.deepEqual(
      byType("gate.opened").map((e) => e.actor),
      ["operator:operator", "webhook:release"],
    );
    assert.match(byType("gate.told")[0]?.reason ?? "", /post-rollout gate done was told/);
  });
});
