/**
 * Which engine carries the users' traffic, and how Aviary reaches it. The embedded router is
 * the default (nothing to set up); HAProxy and nginx are driven at run time, and their access
 * logs come back to Aviary over syslog so the analysis judges what the engine served.
 *
 * @module
 */

import { z } from "zod";
import { isLoopbackHost, parseListenAddress } from "../util/address.js";
import { parseCidr } from "../util/cidr.js";
import { durationWithin, ListenAddress } from "./schema-parts.js";

/** `unix:/path` or `HOST:PORT`: where a local engine's control socket listens. */
const SocketAddress = z
  .string()
  .refine((s) => /^unix:\/.+/.test(s) || ListenAddress.safeParse(s).success, {
    message:
      "expected unix:/absolute/path or HOST:PORT, e.g. unix:/run/haproxy/admin.sock or 127.0.0.1:9999",
  });

const AbsolutePath = z.string().startsWith("/", { message: "expected an absolute path" });

export const HaproxySettings = z
  .strictObject({
    runtimeApi: SocketAddress.describe(
      "HAProxy's Runtime API: a stats socket or TCP address with `level admin` (`stats socket ... level admin` in the global section).",
    ),
    mapsDir: AbsolutePath.describe(
      "Where the rendered configuration reads Aviary's map files. Aviary keeps them in step with every runtime change, so a reload serves the last applied state.",
    ),
    targetSlots: z
      .int()
      .min(1)
      .max(64)
      .default(8)
      .describe(
        "Server slots rendered per version: a version can have this many targets, set at run time without a reload.",
      ),
    timeout: durationWithin("1m", "10ms")
      .default("2s")
      .describe("How long one Runtime API call may take before it counts as failed."),
  })
  .describe("How Aviary drives HAProxy (2.6 or later, with its built-in Lua).");
export type HaproxySettings = z.infer<typeof HaproxySettings>;

export const NginxSettings = z
  .strictObject({
    control: ListenAddress.describe(
      "Loopback HOST:PORT of the control server the rendered configuration adds to nginx; Aviary posts each service's state there (no reload).",
    ),
    stateDir: AbsolutePath.describe(
      "Where Aviary keeps the applied state on disk, so an nginx restart serves it before Aviary is back.",
    ),
    targetSlots: z.int().min(1).max(64).default(8).describe("Most targets one version can have."),
    timeout: durationWithin("1m", "10ms")
      .default("2s")
      .describe("How long one call to the control server may take before it counts as failed."),
  })
  .describe(
    "How Aviary drives nginx (1.22 or later with the Lua module, Debian's libnginx-mod-http-lua).",
  );
export type NginxSettings = z.infer<typeof NginxSettings>;

export const LogSettings = z
  .strictObject({
    listen: z
      .string()
      .refine((s) => s.startsWith("udp://") && ListenAddress.safeParse(s.slice(6)).success, {
        message:
          "expected udp://HOST:PORT, e.g. udp://127.0.0.1:5514 (UDP only: Node has no unix datagram sockets)",
      })
      .describe(
        "Where Aviary receives the engine's access log as syslog: udp://HOST:PORT, e.g. udp://127.0.0.1:5514. A loopback address unless allowFrom is set: anyone who can send a datagram there can add counts to a version's figures.",
      ),
    allowFrom: z
      .array(
        z.string().refine((s) => parseCidr(s) !== undefined, {
          message: "expected an address or a CIDR range such as 10.0.0.5 or 10.0.0.0/24",
        }),
      )
      .min(1)
      .optional()
      .describe(
        "The engines' source addresses (or CIDR ranges), for an engine on another host. Needed to listen on anything but loopback; datagrams from elsewhere are dropped and counted as foreign. UDP sources can be forged on the path, so use a network only the engines can send on.",
      ),
  })
  .superRefine((logs, ctx) => {
    const host = parseListenAddress(logs.listen.slice("udp://".length))?.host;
    if (host !== undefined && logs.allowFrom === undefined && !isLoopbackHost(host))
      ctx.addIssue({
        code: "custom",
        path: ["listen"],
        message:
          "not a loopback address: anyone who can send it a datagram could add counts to a version's figures. Listen on 127.0.0.1 or [::1], or name the engines' addresses in allowFrom",
      });
  })
  .describe("The engine's access log, which feeds the per-version metrics the analysis reads.");
export type LogSettings = z.infer<typeof LogSettings>;

export const DataplaneSettings = z
  .strictObject({
    engine: z
      .enum(["embedded", "haproxy", "nginx", "fleet", "none"])
      .default("embedded")
      .describe(
        "Who carries the users' requests: Aviary's own router (`embedded`), an HAProxy or an nginx Aviary drives at run time, a fleet of `aviary router` processes that follow the control plane's API (`fleet`, see docs/fleet.md), or nobody (`none`: decisions only, for tests and dry runs).",
      ),
    haproxy: HaproxySettings.optional(),
    nginx: NginxSettings.optional(),
    logs: LogSettings.optional(),
  })
  .superRefine((d, ctx) => {
    for (const engine of ["haproxy", "nginx"] as const) {
      if (d.engine === engine && d[engine] === undefined)
        ctx.addIssue({
          code: "custom",
          path: [engine],
          message: `engine ${engine} needs its ${engine} settings`,
        });
      if (d.engine !== engine && d[engine] !== undefined)
        ctx.addIssue({
          code: "custom",
          path: [engine],
          message: `${engine} settings are only read with engine: ${engine}`,
        });
    }
    if ((d.engine === "haproxy" || d.engine === "nginx") && d.logs === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["logs"],
        message: `engine ${d.engine} needs logs.listen: the analysis reads what the engine served from its access log`,
      });
  })
  .describe("Which data plane serves the users' traffic. Read at start: a change needs a restart.");
export type DataplaneSettings = z.infer<typeof DataplaneSettings>;
