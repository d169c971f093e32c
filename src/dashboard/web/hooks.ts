/**
 * Preact hooks over browser state: the URL fragment, page visibility, the colour scheme, and a
 * clock that ticks only while a component needs it.
 *
 * @module
 */

import { useEffect, useState } from "preact/hooks";
import { parseRoute, type Route } from "./route.js";

export function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function useVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState === "visible");
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", onChange);
    return () => document.removeEventListener("visibilitychange", onChange);
  }, []);
  return visible;
}

export function useDarkMode(): boolean {
  const [dark, setDark] = useState(() => matchMedia("(prefers-color-scheme: dark)").matches);
  useEffect(() => {
    const q = matchMedia("(prefers-color-scheme: dark)");
    const onChange = () => setDark(q.matches);
    q.addEventListener("change", onChange);
    return () => q.removeEventListener("change", onChange);
  }, []);
  return dark;
}

/** `now()` re-read every `everyMs` while `enabled`; otherwise it stays where it was. */
export function useNow(now: () => number, everyMs: number, enabled = true): number {
  const [t, setT] = useState(now);
  useEffect(() => {
    if (!enabled) return;
    setT(now());
    const id = setInterval(() => setT(now()), everyMs);
    return () => clearInterval(id);
  }, [now, everyMs, enabled]);
  return t;
}
