/**
 * The dashboard's pages as URL fragments, so a page can be bookmarked, shared and reloaded:
 * `#/` the overview (with `?q=` and `?phase=` for its filters), `#/services/NAME` a rollout.
 * Nothing secret ever goes into a fragment: the token lives in sessionStorage only.
 *
 * @module
 */

import { isPhaseFilter, type PhaseFilter } from "./phase.js";

export type Route =
  | { page: "overview"; q: string; phase: PhaseFilter }
  | { page: "service"; name: string }
  | { page: "not-found"; hash: string };

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [path = "", query = ""] = raw.split("?", 2) as [string?, string?];
  const params = new URLSearchParams(query);
  if (path === "" || path === "/" || path === "/services" || path === "/services/") {
    const phase = params.get("phase") ?? "all";
    return {
      page: "overview",
      q: params.get("q") ?? "",
      phase: isPhaseFilter(phase) ? phase : "all",
    };
  }
  const m = /^\/services\/([^/]+)\/?$/.exec(path);
  if (m !== null) {
    try {
      return { page: "service", name: decodeURIComponent(m[1] as string) };
    } catch {
      return { page: "not-found", hash };
    }
  }
  return { page: "not-found", hash };
}

export function overviewHash(q = "", phase: PhaseFilter = "all"): string {
  const params = new URLSearchParams();
  if (q !== "") params.set("q", q);
  if (phase !== "all") params.set("phase", phase);
  const s = params.toString();
  return s === "" ? "#/" : `#/?${s}`;
}

export function serviceHash(name: string): string {
  return `#/services/${encodeURIComponent(name)}`;
}
