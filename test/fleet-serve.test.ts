/**
 * `aviary serve` with `dataplane.engine: fleet` and two routers following it over its admin
 * API: a rollout's steps reach every router, the fleet's listing shows them, an abort brings
 * them back to stable.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { request } from "undici";
import type { FleetRouter } from "../src/fleet/fleet-router.js";
import { type RunningAviary, startAviary } from "../src/server.js";
import { Spec } from "../src/spec/schema.js";
import { formatListenAddress } from "../src/util/address.js";
import { silentLogger } from "../src/util/log.js";
import { startUpstream } from "./fixtures.js";
import { ROUTER_TOKEN, startRouter, until } from "./fleet-fixtures.js";

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe("aviary serve with engine fleet", () => {
  it("drives a rollout on every router, and shows them", async () => {
    const v1 = await startUpstream("v1");
    const v2 = await startUpstream("v2");
    cleanup.push(() => v1.close());
    cleanup.push(() => v2.close());
    const dataDir = mkdtempSync(join(tmpdir(), "aviary-fleet-serve-"));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const hash = createHash("sha256").update(ROUTER_TOKEN).digest("hex");
    writeFileSync(join(dataDir, "tokens"), `sha256:${hash} router edge\n`, { mode: 0o600 });
    const spec = Spec.parse({
      listen: "127.0.0.1:0",
      admin: "127.0.0.1:0",
      dataplane: { engine: "fleet" },
      services: [
        {
          name: "shop",
          match: { pathPrefix: "/shop" },
          stable: { version: "v1", targets: [v1.url] },
          strategy: { steps: [{ setWeight: 50 }, { pause: {} }] },
        },
      ],
    });
    const aviary: RunningAviary = await startAviary({ spec, log: silentLogger(), dataDir });
    cleanup.push(() => aviary.close());
    const admin = `http://${formatListenAddress(aviary.adminAddress)}`;
    const operator = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
    const api = async (method: "GET" | "POST", path: string, body?: unknown) => {
      const res = await request(`${admin}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${operator}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };

    const routers: FleetRouter[] = [];
    for (const id of ["edge-1", "edge-2"]) {
      const r = await startRouter({ id, controls: [admin], dataDir: join(dataDir, id) });
      cleanup.push(() => r.close());
      assert.ok(await r.serving(10_000), `${id} serves`);
      routers.push(r);
    }
    const urls = routers.map((r) => `http://127.0.0.1:${r.listenAddress?.port}`);
    const versions = async (url: string, n: number) => {
      const seen = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const res = await request(`${url}/shop/${i}`);
        await res.body.dump();
        const v = String(res.headers["x-upstream"]);
        seen.set(v, (seen.get(v) ?? 0) + 1);
      }
      return seen;
    };
    for (const url of urls) assert.deepEqual([...(await versions(url, 10)).keys()], ["v1"]);

    const deploy = await api("POST", "/api/v1/services/shop/deploy", {
      version: "v2",
      targets: [v2.url],
    });
    assert.equal(deploy.status, 201, JSON.stringify(deploy.body));
    for (const url of urls)
      await until(`${url} splits`, async () => {
        const seen = await versions(url, 60);
        return (seen.get("v2") ?? 0) > 10 && (seen.get("v1") ?? 0) > 10 ? true : undefined;
      });

    const fleet = await until("both routers serve the desired revision", async () => {
      const { body } = await api("GET", "/api/v1/fleet");
      const f = body as {
        routers: Array<{
          id: string;
          stale: boolean;
          serves: Record<string, { revision: number; weight: number }>;
        }>;
        desired: { services: Record<string, number> };
      };
      const want = f.desired.services.shop;
      return f.routers.length === 2 &&
        f.routers.every((r) => r.serves.shop?.revision === want && r.serves.shop?.weight === 50)
        ? f
        : undefined;
    });
    assert.deepEqual(
      fleet.routers.map((r) => [r.id, r.stale]),
      [
        ["edge-1", false],
        ["edge-2", false],
      ],
    );

    const abort = await api("POST", "/api/v1/services/shop/abort", { reason: "test" });
    assert.ok(abort.status < 300, JSON.stringify(abort.body));
    for (const url of urls)
      await until(`${url} back on stable`, async () => {
        const seen = await versions(url, 20);
        return seen.size === 1 && seen.has("v1") ? true : undefined;
      });
  });
});
