/**
 * The HAProxy traffic provider: Aviary decides, HAProxy serves. The configuration rendered by
 * `renderHaproxy` stays fixed; everything a rollout changes goes through the Runtime API, with
 * no reload:
 *
 * - versions, weight and managed routes live in the service's map, replaced atomically
 *   (`prepare map` / `add map @ver` / `commit map @ver`), then written to the map file in
 *   `mapsDir` (temp + rename) so a reload or restart with these files serves the last state;
 * - targets are the rendered server slots: `set server <b>/<s> addr … port …` and
 *   `state ready`, unused slots `state maint`. Slots come up before the map switches traffic
 *   to them and go down after it has switched away.
 *
 * Server slots on reload: HAProxy 2.6 restores a server's address from a server-state file only
 * for servers named by host name (`init-addr last` is applied to FQDN servers only), so slots
 * come back as rendered. Aviary does not fight that: `observe` reads the slots and reports
 * the targets as drift, and the next apply (the convergence loop's) puts them back. Until then a
 * canary left with no slot in rotation sends its share to stable (`nbsrv` guard in the config),
 * never to a 503.
 *
 * `finalize` empties the service's map (and file), takes the canary slots out of rotation and
 * points the stable slots at the rendered stable targets: the service then serves exactly the
 * rendered stable default, and observe no longer lists it.
 *
 * @module
 */

import { rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { stableOnly, trafficFromSpec } from "../../../rollout/traffic.js";
import type { TrafficState } from "../../../rollout/types.js";
import type { HaproxySettings, Service } from "../../../spec/schema.js";
import type { Clock } from "../../../util/clock.js";
import { parseDuration } from "../../../util/duration.js";
import type { Logger } from "../../../util/log.js";
import {
  type ServedTraffic,
  type TrafficCapabilities,
  type TrafficProvider,
  TrafficProviderError,
} from "../provider.js";
import { haproxyCapabilities } from "./capabilities.js";
import {
  backendName,
  type CatalogService,
  KEY,
  mapPath,
  parseBackendName,
  parseCatalog,
  type Role,
  routeKey,
  serverName,
} from "./layout.js";
import { targetAddress } from "./render.js";
import { ENGINE, RuntimeApi, type RuntimeSession, refused } from "./runtime-api.js";

export { renderHaproxy } from "./render.js";

/** One server slot as `show servers state` reports it. */
interface SlotState {
  slot: number;
  addr: string;
  port: number;
  /** In rotation: not in (forced or inherited) maintenance, not draining. */
  ready: boolean;
}

/** `srv_admin_state` bits that take a server out of rotation (config `disabled` alone does not). */
const OUT_OF_ROTATION = 0x01 | 0x02 | 0x08 | 0x10 | 0x20 | 0x40;

/** `host:port` of a target URL, the form the engine reports a slot in. */
function endpoint(url: string): string | undefined {
  const a = targetAddress(url);
  return typeof a === "string" ? undefined : `${a.host}:${a.port}`;
}

export function parseServersState(answer: string): Map<string, SlotState[]> {
  const out = new Map<string, SlotState[]>();
  const lines = answer.split("\n");
  if (lines[0]?.trim() !== "1") throw refused("show servers state", answer);
  for (const line of lines.slice(1)) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const f = line.split(" ");
    const backend = f[1] as string;
    const m = /^s(\d+)$/.exec(f[3] ?? "");
    if (m === null || parseBackendName(backend) === undefined) continue;
    const admin = Number(f[6]);
    const slots = out.get(backend) ?? [];
    slots.push({
      slot: Number(m[1]) - 1,
      addr: f[4] as string,
      port: Number(f[18]),
      ready: (admin & OUT_OF_ROTATION) === 0 && Number(f[5]) !== 0,
    });
    out.set(backend, slots);
  }
  for (const slots of out.values()) slots.sort((a, b) => a.slot - b.slot);
  return out;
}

/** `show map <file>` answer → key/value; undefined when the map is not loaded. */
export function parseShowMap(answer: string): Map<string, string> | undefined {
  if (/unknown map/i.test(answer)) return undefined;
  const out = new Map<string, string>();
  for (const line of answer.split("\n")) {
    if (line.trim() === "") continue;
    const m = /^0x[0-9a-f]+ (\S+) ?(.*)$/.exec(line);
    if (m === null) throw refused("show map", answer);
    out.set(m[1] as string, m[2] as string);
  }
  return out;
}

/** The map entries for `state` (route switches resolved against the rendered catalog). */
function mapEntries(state: TrafficState, routeIndex: (i: number) => number): [string, string][] {
  const entries: [string, string][] = [[KEY.stable, state.stable.version]];
  if (state.canary === null) {
    entries.push([KEY.weight, "0"]);
    return entries;
  }
  entries.push([KEY.canary, state.canary.version]);
  entries.push([KEY.weight, String(Math.round(state.weight * 100))]);
  state.headerRoutes.forEach((r, order) => {
    entries.push([KEY.route(routeIndex(order)), `${order}:${encodeURIComponent(r.name)}`]);
  });
  return entries;
}

/** What a service's map and slots say it serves; undefined when Aviary does not serve it there. */
function servedFrom(
  map: Map<string, string>,
  slots: { stable: SlotState[]; canary: SlotState[] },
  remembered: { stable: string[]; canary: string[] } | undefined,
): ServedTraffic | undefined {
  const stable = map.get(KEY.stable);
  if (stable === undefined) return undefined;
  const canary = map.get(KEY.canary) ?? null;
  // A slot reports host:port; the target's URL as it was applied is reported when it is the same place.
  const urls = (role: Role) =>
    slots[role]
      .filter((s) => s.ready)
      .map((s, i) => {
        const known = remembered?.[role][i];
        if (known !== undefined && endpoint(known) === `${s.addr}:${s.port}`) return known;
        return s.addr.includes(":") ? `http://[${s.addr}]:${s.port}` : `http://${s.addr}:${s.port}`;
      });
  const routes = [...map]
    .filter(([k]) => k.startsWith("route."))
    .map(([, v]) => {
      const colon = v.indexOf(":");
      return { order: Number(v.slice(0, colon)), name: decodeURIComponent(v.slice(colon + 1)) };
    })
    .sort((a, b) => a.order - b.order)
    .map((r) => r.name);
  return {
    stable,
    canary,
    weight: canary === null ? 0 : Number(map.get(KEY.weight) ?? "0") / 100,
    routes: canary === null ? [] : routes,
    mirror: null,
    targets: { stable: urls("stable"), canary: canary === null ? [] : urls("canary") },
  };
}

export interface HaproxyProviderDeps {
  log: Logger;
  clock: Clock;
}

export class HaproxyTrafficProvider implements TrafficProvider {
  readonly type = ENGINE;
  readonly capabilities: TrafficCapabilities;
  readonly #settings: HaproxySettings;
  readonly #api: RuntimeApi;
  readonly #log: Logger;
  /** Targets last applied per service, to report a slot by the URL it was given. */
  readonly #targets = new Map<string, { stable: string[]; canary: string[] }>();
  readonly #canaryUp = new Map<string, boolean>();
  /**
   * The last call per service: calls on one service run one after another, since two
   * interleaved map versions (prepare, prepare, commit the newer, commit the older) and two
   * writes of one map file would leave the older state behind.
   */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(settings: HaproxySettings, deps: HaproxyProviderDeps) {
    this.#settings = settings;
    this.#api = new RuntimeApi(settings.runtimeApi, parseDuration(settings.timeout) ?? 2000);
    this.#log = deps.log;
    this.capabilities = haproxyCapabilities(settings);
  }

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const served = await this.observe();
    const names = new Set(services.map((s) => s.name));
    let first: unknown;
    const attempt = async (p: Promise<void>) => {
      try {
        await p;
      } catch (e) {
        first ??= e;
      }
    };
    for (const name of served.keys()) if (!names.has(name)) await attempt(this.finalize(name));
    for (const s of services) {
      const state = traffic.get(s.name);
      if (state !== undefined) await attempt(this.apply(s.name, state));
      else if (!served.has(s.name))
        await attempt(
          this.apply(s.name, s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s)),
        );
    }
    if (first !== undefined) throw first;
  }

  apply(service: string, state: TrafficState): Promise<void> {
    return this.#serial(service, () => this.#apply(service, state));
  }

  finalize(service: string): Promise<void> {
    return this.#serial(service, () => this.#finalize(service));
  }

  #serial<T>(service: string, call: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(service) ?? Promise.resolve();
    const next = previous.then(call, call);
    const settled = next.catch(() => {});
    this.#queues.set(service, settled);
    void settled.then(() => {
      if (this.#queues.get(service) === settled) this.#queues.delete(service);
    });
    return next;
  }

  async #apply(service: string, state: TrafficState): Promise<void> {
    this.#check(service, state);
    const file = mapPath(this.#settings.mapsDir, service);
    const entries = await this.#api.session(`apply ${service}`, async (s) => {
      const [catalogAnswer, prepared] = await s.run(["aviary catalog", `prepare map ${file}`]);
      const rendered = this.#rendered(service, catalogAnswer as string);
      const routeIndex = state.headerRoutes.map((r) => {
        const index = rendered.routes.get(routeKey(r));
        if (index === undefined)
          throw new TrafficProviderError(
            ENGINE,
            "not-configured",
            `managed route ${r.name} of ${service} is not in HAProxy's configuration (a strategy step added or changed after it was rendered): re-render (aviary render haproxy) and reload HAProxy`,
          );
        return index;
      });
      const version = /New version created: (\d+)/.exec(prepared as string)?.[1];
      if (version === undefined) throw refused(`prepare map ${file}`, prepared as string);
      const entries = mapEntries(state, (i) => routeIndex[i] as number);
      const slots = this.#slotCommands(service, state);
      await this.#expect(s, slots.up);
      await this.#expect(s, [
        ...entries.map(([k, v]) => `add map @${version} ${file} ${k} ${v}`),
        `commit map @${version} ${file}`,
      ]);
      await this.#expect(s, slots.down);
      return entries;
    });
    await this.#writeMap(file, entries);
    this.#targets.set(service, {
      stable: [...state.stable.targets],
      canary: state.canary === null ? [] : [...state.canary.targets],
    });
    this.#canaryUp.set(service, state.canary !== null && state.canary.targets.length > 0);
  }

  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    return this.#api.session("observe", async (s) => {
      const slots = parseServersState(await s.one("show servers state"));
      const services = [
        ...new Set(
          [...slots.keys()]
            .map((b) => parseBackendName(b)?.service)
            .filter((n): n is string => n !== undefined),
        ),
      ];
      const maps = await s.run(
        services.map((name) => `show map ${mapPath(this.#settings.mapsDir, name)}`),
      );
      const out = new Map<string, ServedTraffic>();
      services.forEach((name, i) => {
        const map = parseShowMap(maps[i] as string);
        if (map === undefined) return;
        const role = (r: Role) => slots.get(backendName(name, r)) ?? [];
        const served = servedFrom(
          map,
          { stable: role("stable"), canary: role("canary") },
          this.#targets.get(name),
        );
        if (served === undefined) return;
        out.set(name, served);
        this.#canaryUp.set(name, served.targets.canary.length > 0);
      });
      return out;
    });
  }

  async #finalize(service: string): Promise<void> {
    const file = mapPath(this.#settings.mapsDir, service);
    const done = await this.#api.session(`finalize ${service}`, async (s) => {
      const [catalogAnswer, prepared] = await s.run(["aviary catalog", `prepare map ${file}`]);
      const rendered = parseCatalog(catalogAnswer as string).get(service);
      const version = /New version created: (\d+)/.exec(prepared as string)?.[1];
      // Not rendered at all: nothing of Aviary's is there to remove.
      if (rendered === undefined || version === undefined) return false;
      await this.#expect(s, [`commit map @${version} ${file}`]);
      const back = this.#slotCommands(service, {
        stable: { version: "", targets: rendered.stableTargets },
        canary: null,
        weight: 0,
        headerRoutes: [],
        mirror: null,
      });
      await this.#expect(s, [...back.up, ...back.down]);
      return true;
    });
    if (done) await this.#writeMap(file, []);
    this.#targets.delete(service);
    this.#canaryUp.delete(service);
  }

  canaryAvailable(service: string): boolean | undefined {
    return this.#canaryUp.get(service);
  }

  async close(): Promise<void> {}

  /** Refuses what the engine cannot serve before touching it. */
  #check(service: string, state: TrafficState): void {
    if (state.mirror !== null && state.canary !== null)
      throw new TrafficProviderError(
        ENGINE,
        "unsupported",
        `${service}: HAProxy 2.6 cannot mirror requests`,
      );
    for (const [role, version] of [
      ["stable", state.stable],
      ["canary", state.canary],
    ] as const) {
      if (version === null) continue;
      if (version.targets.length > this.#settings.targetSlots)
        throw new TrafficProviderError(
          ENGINE,
          "unsupported",
          `${service}: ${version.targets.length} ${role} targets but HAProxy has ${this.#settings.targetSlots} slots (targetSlots)`,
        );
      for (const t of version.targets) {
        const a = targetAddress(t);
        if (typeof a === "string")
          throw new TrafficProviderError(ENGINE, "unsupported", `${service}: ${a}`);
      }
    }
  }

  #rendered(service: string, catalogAnswer: string): CatalogService {
    if (/unknown command/i.test(catalogAnswer))
      throw new TrafficProviderError(
        ENGINE,
        "not-configured",
        "HAProxy has not loaded Aviary's Lua file (no `aviary catalog` command): add the lua-load line to global, render and reload",
      );
    const rendered = parseCatalog(catalogAnswer).get(service);
    if (rendered === undefined)
      throw new TrafficProviderError(
        ENGINE,
        "not-configured",
        `${service} is not in HAProxy's configuration: re-render (aviary render haproxy) and reload HAProxy`,
      );
    return rendered;
  }

  /** Slots to bring up (addr, port, ready) and to take down (maint), for both roles. */
  #slotCommands(service: string, state: TrafficState): { up: string[]; down: string[] } {
    const up: string[] = [];
    const down: string[] = [];
    for (const role of ["stable", "canary"] as const) {
      const targets = (role === "stable" ? state.stable : state.canary)?.targets ?? [];
      const backend = backendName(service, role);
      for (let slot = 0; slot < this.#settings.targetSlots; slot++) {
        const server = `${backend}/${serverName(slot)}`;
        const url = targets[slot];
        if (url === undefined) {
          down.push(`set server ${server} state maint`);
          continue;
        }
        const a = targetAddress(url);
        if (typeof a === "string") throw new TrafficProviderError(ENGINE, "unsupported", a);
        up.push(`set server ${server} addr ${a.host} port ${a.port}`);
        up.push(`set server ${server} state ready`);
      }
    }
    return { up, down };
  }

  /** Runs commands and checks each answer is what success answers. */
  async #expect(s: RuntimeSession, commands: string[]): Promise<void> {
    if (commands.length === 0) return;
    const answers = await s.run(commands);
    commands.forEach((command, i) => {
      const answer = (answers[i] as string).trim();
      const ok = command.includes(" addr ")
        ? /changed|no need to change/i.test(answer)
        : answer === "";
      if (ok) return;
      if (/no such (server|backend)|unknown map/i.test(answer))
        throw new TrafficProviderError(
          ENGINE,
          "not-configured",
          `HAProxy refused \`${command}\` (${answer}): its configuration lacks what Aviary renders; re-render (aviary render haproxy) and reload HAProxy`,
        );
      throw refused(command, answer);
    });
  }

  /** The map file as HAProxy reads it on a reload: written beside, then renamed over. */
  async #writeMap(file: string, entries: [string, string][]): Promise<void> {
    const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
    await writeFile(temp, entries.map(([k, v]) => `${k} ${v}\n`).join(""));
    await rename(temp, file);
    this.#log.debug({ file }, "haproxy map file written");
  }
}

export function createHaproxyProvider(
  settings: HaproxySettings,
  deps: HaproxyProviderDeps,
): TrafficProvider {
  return new HaproxyTrafficProvider(settings, deps);
}
