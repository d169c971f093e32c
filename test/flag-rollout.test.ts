/**
 * A flag rolled out with a strategy, driven through the CLI as a service is (`aviary get`,
 * `promote`, `abort`, `retry`, `history` on `flag:<key>`), seen by an application
 * through the published OpenFeature server SDK and OFREP provider.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { type Client, OpenFeature } from "@openfeature/server-sdk";
import { AviaryProvider } from "../src/openfeature/index.js";
import { AVIARY_BIN } from "./fixtures.js";
import { CLIENT_KEY, type OfrepAviary, startOfrepAviary } from "./ofrep-fixtures.js";

const FLAG = {
  key: "new-checkout",
  type: "boolean" as const,
  variants: { on: true, off: false },
  defaultVariant: "off",
  rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
  rollout: { variant: "on" },
  strategy: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }] },
};

let av: OfrepAviary;
let client: Client;
let home: string;

before(async () => {
  assert.ok(existsSync(AVIARY_BIN), `${AVIARY_BIN} is missing: run \`npm run build\` first`);
  home = mkdtempSync(join(tmpdir(), "aviary-flag-cli-"));
  av = await startOfrepAviary({ flags: [FLAG] });
  // No cache: every evaluation asks Aviary, so a change shows at the next one.
  await OpenFeature.setProviderAndWait(
    new OFREPProvider({ baseUrl: av.ofrep, headers: { Authorization: `Bearer ${CLIENT_KEY}` } }),
  );
  client = OpenFeature.getClient();
});
after(async () => {
  await OpenFeature.close();
  await av?.close();
});

/** A verb of the compiled CLI, run without blocking (this process serves what it asks). */
function cli(
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(home, "xdg") };
  for (const key of Object.keys(env)) if (key.startsWith("AVIARY_")) delete env[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AVIARY_BIN, ...args],
      {
        encoding: "utf8",
        timeout: 30_000,
        env: {
          ...env,
          AVIARY_SERVER: av.admin,
          AVIARY_TOKEN: av.operatorToken,
          AVIARY_DATA_DIR: join(home, "none"),
        },
      },
      (err, stdout, stderr) =>
        resolve({
          status: err ? (typeof err.code === "number" ? err.code : null) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const out = await cli(...args);
  assert.equal(out.status, 0, `aviary ${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

/** How many of 400 users the application sees the new checkout for, and a beta tester's. */
async function seen(): Promise<{ on: number; beta: boolean }> {
  let on = 0;
  for (let i = 0; i < 400; i++)
    if (await client.getBooleanValue("new-checkout", false, { targetingKey: `user-${i}` })) on++;
  const beta = await client.getBooleanValue("new-checkout", false, {
    targetingKey: "tester",
    "user-type": "beta-tester",
  });
  return { on, beta };
}

describe("a flag's rollout through the CLI and the OpenFeature SDK", () => {
  it("shows the flag as flag:<key>, at its first step's percent", async () => {
    const view = JSON.parse(await ok("get", "flag:new-checkout", "-o", "json")) as {
      traffic: { weight: number; stable: { version: string }; canary: { version: string } };
      rollout: { phase: string };
    };
    assert.equal(view.traffic.weight, 20);
    assert.equal(view.traffic.stable.version, "off");
    assert.equal(view.traffic.canary.version, "on");
    assert.equal(view.rollout.phase, "Paused");
    const listed = await ok("get");
    assert.match(listed, /flag:new-checkout/);
    const { on, beta } = await seen();
    assert.ok(on > 50 && on < 110, `about 20 % of 400: ${on}`);
    assert.equal(beta, true);
  });

  it("is read by the in-process AviaryProvider at its step, and after it ended", async () => {
    const errors: string[] = [];
    const provider = new AviaryProvider({
      baseUrl: av.ofrep,
      clientKey: CLIENT_KEY,
      changes: "polling",
      pollIntervalMs: 100,
      reportIntervalMs: 3_600_000,
      onError: (m) => errors.push(m),
    });
    await OpenFeature.setProviderAndWait("in-process", provider);
    const local = OpenFeature.getClient("in-process");
    const count = async () => {
      let on = 0;
      for (let i = 0; i < 400; i++)
        if (await local.getBooleanValue("new-checkout", false, { targetingKey: `user-${i}` })) on++;
      return on;
    };
    try {
      const { on } = await seen();
      assert.equal(await count(), on, "in-process agrees with OFREP at the step");
      // An ended rollout serves one variant to everyone, its strategy still in the spec.
      await ok("abort", "flag:new-checkout", "--reason", "in-process check");
      for (let i = 0; i < 50 && (await count()) > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(await count(), 0);
      assert.deepEqual(errors, []);
      await ok("retry", "flag:new-checkout");
    } finally {
      await provider.onClose();
    }
  });

  it("widens on promote, cuts everyone off on abort, and starts again on retry", async () => {
    // A manual pause step waits for promote, as a service's does.
    await ok("promote", "flag:new-checkout");
    const wider = await seen();
    assert.ok(wider.on > 200 && wider.on < 280, `about 60 % of 400: ${wider.on}`);
    await ok("abort", "flag:new-checkout", "--reason", "checkout errors");
    assert.deepEqual(await seen(), { on: 0, beta: false });
    const history = await ok("history", "flag:new-checkout");
    assert.match(history, /checkout errors/);
    await ok("retry", "flag:new-checkout");
    const again = await seen();
    assert.ok(again.on > 50 && again.on < 110, `back at 20 %: ${again.on}`);
  });

  it("gives everyone the new variant on promote --full", async () => {
    await ok("promote", "flag:new-checkout", "--full");
    assert.deepEqual(await seen(), { on: 400, beta: true });
  });
});
