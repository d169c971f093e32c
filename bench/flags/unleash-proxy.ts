/**
 * Peer: the Unleash proxy (`@unleash/proxy`, its own Express app from `createApp`), started
 * offline. No Unleash server runs here, so the toggle comes from the proxy's bootstrap option
 * and `unleashUrl` points at a loopback port nothing listens on: the proxy's polls fail, and it
 * keeps serving the bootstrapped toggle (the orchestrator checks the answers before and during
 * the load).
 * Usage: node --import tsx bench/flags/unleash-proxy.ts --port N --closed-port N --client-key K
 *
 * @module
 */

import { createApp } from "@unleash/proxy";
import { ChildArgs } from "../proxy/child-args.js";
import { unleashToggle } from "./flag-set.js";

type ProxyOptions = Parameters<typeof createApp>[0];

const args = new ChildArgs();
// Cast: the package's types want its enums (Operator, LogLevel) where their string values do.
const options = {
  unleashUrl: `http://127.0.0.1:${args.number("closed-port")}/api/`,
  unleashApiToken: "no-server-runs-here",
  clientKeys: [args.text("client-key")],
  logLevel: "error",
  // The default 5 s poll would only add failing requests to the measured process.
  refreshInterval: 3_600_000,
  expBootstrap: { data: [unleashToggle] },
} as unknown as ProxyOptions;
const app = createApp(options);
app.listen(args.number("port"), "127.0.0.1");
