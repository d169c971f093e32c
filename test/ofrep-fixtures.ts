/**
 * An Aviary with an OFREP listener and flags, started in-process on port 0, with one client
 * key, one read-only token and the operator token, for the OFREP tests.
 */

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashToken } from "../src/api/tokens-file.js";
import type { OfrepLimits } from "../src/ofrep/server.js";
import { type RunningAviary, startAviary } from "../src/server.js";
import { Spec, type SpecInput } from "../src/spec/schema.js";
import { formatListenAddress } from "../src/util/address.js";
import type { Clock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";

export const CLIENT_KEY = "client-key-for-tests-0123456789abcdefghijk";
export const READ_ONLY_TOKEN = "read-only-token-for-tests-0123456789abcd";
export const ROUTER_TOKEN = "router-token-for-tests-0123456789abcdefgh";

export const FLAGS: NonNullable<SpecInput["flags"]> = [
  {
    key: "new-checkout",
    type: "boolean",
    variants: { on: true, off: false },
    defaultVariant: "off",
    metadata: { team: "payments" },
    rules: [
      {
        name: "beta testers",
        when: [{ attribute: "user-type", equals: "beta-tester" }],
        variant: "on",
      },
    ],
    rollout: { variant: "on", percent: 5 },
  },
  {
    key: "banner-text",
    type: "string",
    variants: { plain: "Welcome", festive: "Happy holidays" },
    defaultVariant: "plain",
  },
];

export interface OfrepAviary {
  aviary: RunningAviary;
  dataDir: string;
  /** http://127.0.0.1:<ofrep port> */
  ofrep: string;
  /** http://127.0.0.1:<admin port> */
  admin: string;
  operatorToken: string;
  /** Applies the spec with these flags, as a SIGHUP does. */
  setFlags(flags: SpecInput["flags"]): Promise<void>;
  close(): Promise<void>;
}

export async function startOfrepAviary(
  opts: {
    flags?: SpecInput["flags"];
    /** Analysis templates a flag's strategy names. */
    analysisTemplates?: SpecInput["analysisTemplates"];
    limits?: OfrepLimits;
    clock?: Clock;
    /** The spec's `ofrep.rateLimit`. */
    rateLimit?: NonNullable<SpecInput["ofrep"]>["rateLimit"];
  } = {},
): Promise<OfrepAviary> {
  const dataDir = join(mkdtempSync(join(tmpdir(), "aviary-ofrep-")), "data");
  const specOf = (flags: SpecInput["flags"]) =>
    Spec.parse({
      listen: "127.0.0.1:0",
      admin: "127.0.0.1:0",
      ofrep: {
        listen: "127.0.0.1:0",
        ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
      },
      flags,
      ...(opts.analysisTemplates ? { analysisTemplates: opts.analysisTemplates } : {}),
    });
  const { mkdirSync } = await import("node:fs");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(
    join(dataDir, "tokens"),
    [
      `sha256:${hashToken(CLIENT_KEY)} client web-app`,
      `sha256:${hashToken(READ_ONLY_TOKEN)} read-only viewer`,
      `sha256:${hashToken(ROUTER_TOKEN)} router edge-1`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const saved = process.env.AVIARY_TOKEN;
  delete process.env.AVIARY_TOKEN;
  let aviary: RunningAviary;
  try {
    aviary = await startAviary({
      spec: specOf(opts.flags ?? FLAGS),
      log: silentLogger(),
      dataDir,
      ...(opts.limits ? { ofrepLimits: opts.limits } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  } finally {
    if (saved !== undefined) process.env.AVIARY_TOKEN = saved;
  }
  const ofrepAt = aviary.ofrep?.address;
  if (ofrepAt === undefined) throw new Error("no OFREP listener");
  return {
    aviary,
    dataDir,
    ofrep: `http://${formatListenAddress(ofrepAt)}`,
    admin: `http://${formatListenAddress(aviary.adminAddress)}`,
    operatorToken: readFileSync(join(dataDir, "operator-token"), "utf8").trim(),
    setFlags: async (flags) => {
      await aviary.reload(specOf(flags));
      await aviary.flags.settled();
    },
    close: () => aviary.close(),
  };
}
