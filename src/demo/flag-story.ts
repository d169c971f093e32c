/**
 * The demo's flag chapter (`aviary demo --flags`): the shop at v1 behind Aviary, asking
 * OpenFeature (the published server SDK with `AviaryProvider`, in-process) for `new-checkout`
 * on every request and reporting errors and latency per variant. The flag is rolled out in
 * steps; its new checkout fails one request in five, so the analysis switches the flag off
 * (the subject `flag:new-checkout` is aborted) and the users stop seeing errors, while the
 * shop's deployment is never touched.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashToken } from "../api/tokens-file.js";
import { AviaryProvider } from "../openfeature/index.js";
import { type RunningAviary, startAviary } from "../server.js";
import { Spec } from "../spec/schema.js";
import { formatListenAddress } from "../util/address.js";
import { freeTcpPort } from "../util/ports.js";
import { flagDemoSpec } from "./flag-spec.js";
import { type FlagOutcome, summarizeFlag } from "./flag-summary.js";
import { LoadGenerator } from "./load.js";
import { clockLabel, describeEvent, describeFlagEvent, trafficLine } from "./narrate.js";
import {
  CHECKOUT_FLAG,
  type CheckoutFlag,
  type SampleService,
  startSampleService,
} from "./sample-service.js";
import { type DemoOptions, delay, finished, maxWeight } from "./story.js";

export const FLAG_SUBJECT = `flag:${CHECKOUT_FLAG}`;
/** The OpenFeature domain the shop's client uses, apart from any other in the process. */
const DOMAIN = "aviary-demo-shop";

export interface FlagDemo {
  aviary: RunningAviary;
  routerUrl: string;
  dashboardUrl: string;
  /** The operator token for the dashboard and the CLI. */
  token: string;
  dataDir: string;
  run(): Promise<FlagOutcome>;
  close(): Promise<void>;
}

/** Who saw which checkout: "v1 new checkout", "v1 old checkout". */
const labelOf = (h: Record<string, string | string[] | undefined>) =>
  `${String(h["x-version"] ?? "(router)")} ${h["x-checkout"] === "new" ? "new" : "old"} checkout`;

export async function startFlagDemo(opts: Omit<DemoOptions, "dataplane">): Promise<FlagDemo> {
  const dataDir = mkdtempSync(join(tmpdir(), "aviary-demo-"));
  let aviary: RunningAviary | undefined;
  let load: LoadGenerator | undefined;
  let shop: SampleService | undefined;
  let provider: AviaryProvider | undefined;
  const close = async () => {
    await load?.stop();
    // Flushes the provider's last report while Aviary still listens.
    if (provider !== undefined) await provider.onClose();
    await aviary?.close();
    await shop?.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const checkout: CheckoutFlag = { client: undefined, errorRate: 0.2 };
    shop = await startSampleService({ version: "v1", errorRate: 0.002, latencyMs: 20, checkout });
    // The shop's client key: only in the demo's tokens file (as its hash) and in this process.
    const clientKey = randomBytes(24).toString("base64url");
    writeFileSync(join(dataDir, "tokens"), `sha256:${hashToken(clientKey)} client demo-shop\n`, {
      mode: 0o600,
    });
    const spec = Spec.parse(
      flagDemoSpec({
        listen: opts.listen,
        admin: opts.admin,
        ofrep: `127.0.0.1:${await freeTcpPort()}`,
        stableUrl: shop.url,
      }),
    );
    const running = await startAviary({ spec, log: opts.log, dataDir });
    aviary = running;
    const ofrepAt = running.ofrep?.address;
    if (ofrepAt === undefined) throw new Error("the flag chapter's spec has no OFREP listener");
    const { OpenFeature } = await import("@openfeature/server-sdk").catch((err: unknown) => {
      throw new Error(
        "aviary demo --flags needs @openfeature/server-sdk: npm install @openfeature/server-sdk",
        { cause: err },
      );
    });
    provider = new AviaryProvider({
      baseUrl: `http://${formatListenAddress(ofrepAt)}`,
      clientKey,
      // Fast reports, so the analysis's 2 s intervals see the shop's last requests.
      reportIntervalMs: 500,
      onError: (m) => opts.log.warn(`demo shop's flag provider: ${m}`),
    });
    await OpenFeature.setProviderAndWait(DOMAIN, provider);
    checkout.client = OpenFeature.getClient(DOMAIN);
    const routerUrl = `http://${formatListenAddress(running.listen)}`;
    const users = new LoadGenerator({
      url: routerUrl,
      path: "/shop/",
      rate: opts.rate ?? 150,
      users: 5_000,
      betaShare: 0.03,
      labelOf,
    });
    load = users;
    const token =
      process.env.AVIARY_TOKEN || readFileSync(join(dataDir, "operator-token"), "utf8").trim();
    return {
      aviary: running,
      routerUrl,
      dashboardUrl: `http://${formatListenAddress(running.adminAddress)}/dashboard/`,
      token,
      dataDir,
      run: () => flagStory(running, users, opts),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function flagStory(
  aviary: RunningAviary,
  users: LoadGenerator,
  opts: Omit<DemoOptions, "dataplane">,
): Promise<FlagOutcome> {
  const t0 = Date.now();
  const say = (line: string) =>
    opts.write(`${opts.paint.dim(clockLabel(Date.now() - t0))}  ${line}`);
  const stableBefore = (await aviary.controller.service("shop")).traffic.stable.version;
  let shopEvents = 0;
  const told = new Set<number>();
  const tell = (e: Parameters<typeof describeFlagEvent>[0]) => {
    if (told.has(e.seq)) return;
    told.add(e.seq);
    const line =
      e.service === FLAG_SUBJECT ? describeFlagEvent(e, opts.paint) : describeEvent(e, opts.paint);
    if (line !== undefined) say(line);
  };
  const unsubscribe = aviary.hub.subscribe((m) => {
    if (m.kind !== "event") return;
    if (m.event.service === "shop") shopEvents++;
    if (m.event.service === FLAG_SUBJECT || m.event.service === "shop") tell(m.event);
  });
  const ticker = setInterval(() => say(trafficLine(users.recent(5), opts.paint)), 5_000);
  try {
    users.start();
    say(
      "users are sending traffic to the shop's v1; on every request the shop asks OpenFeature for new-checkout (in-process, with Aviary's provider) and reports errors and latency per variant",
    );
    // The flag's rollout started with Aviary: what it did before the users came.
    for (const e of await aviary.controller.history(FLAG_SUBJECT)) tell(e);
    const rollout = await aviary.controller.rollout(FLAG_SUBJECT);
    if (rollout === undefined) throw new Error(`${FLAG_SUBJECT} has no rollout`);
    const started = (await aviary.controller.history(FLAG_SUBJECT)).find(
      (e) => e.rolloutId === rollout.id && e.type === "rollout.started",
    );
    const end = await finished(aviary, rollout.id, opts.rolloutTimeoutMs ?? 120_000, FLAG_SUBJECT);
    if (end?.type === "aborted") {
      say(
        "the shop is untouched (still v1); only the flag changed: the users should stop seeing errors",
      );
    }
    // Long enough for the provider to hear the change and for a whole 5 s window after it.
    await delay(7_000);
    const recent = users.recent(5);
    const newAtEnd = [...recent.entries()]
      .filter(([label]) => label.endsWith("new checkout"))
      .reduce((sum, [, c]) => sum + c.requests, 0);
    say(trafficLine(recent, opts.paint));
    return summarizeFlag({
      startedAt: t0,
      endedAt: Date.now(),
      rolloutStartedAt: started?.at ?? t0,
      end,
      maxWeight: maxWeight(await aviary.controller.history(FLAG_SUBJECT), rollout.id),
      stableBefore,
      stableAfter: (await aviary.controller.service("shop")).traffic.stable.version,
      shopEvents,
      newCheckoutAtEnd: newAtEnd,
      served: users.totals(),
      noAnswer: users.noAnswer,
    });
  } finally {
    clearInterval(ticker);
    unsubscribe();
  }
}
