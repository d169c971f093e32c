/**
 * The load on both servers: `wrk -t1 -cN` (closed loop, as bench:proxy) with a Lua script that
 * sends user n = start+1, start+2, … (distinct targeting keys, every tenth a beta tester) and
 * reads every answer: one that is not a 200 of the expected shape is counted as bad, and the
 * `on` answers are counted so that the orchestrator can compare them with the exact count the
 * flag's rule gives for the users sent. wrk runs `done` in its own Lua state, so the counts are
 * read from the thread with `thread:get`.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch, tail } from "../proxy/procs.js";

const MARK = "AVIARY_FLAGS_WRK ";

/** What the script sends and how it reads the answer. */
export type LoadKind = "ofrep" | "ofrep-bulk" | "unleash";

const LUA = `-- Written by bench/flags/load.ts.
-- Globals, not locals: done() reads them from the thread with thread:get.
first_bad = ""

init = function(args)
  kind = args[1]
  key = args[2]
  n = tonumber(args[3])
  flags = tonumber(args[4])
  sent, on, bad, answered = 0, 0, 0, 0
end

request = function()
  n = n + 1
  sent = sent + 1
  local user = "user-" .. n
  local kind_of_user = (n % 10 == 0) and "beta-tester" or "customer"
  if kind == "unleash" then
    return wrk.format("GET", "/proxy?userId=" .. user .. "&user-type=" .. kind_of_user,
      { ["Authorization"] = key })
  end
  local path = "/ofrep/v1/evaluate/flags"
  if kind == "ofrep" then path = path .. "/new-checkout" end
  return wrk.format("POST", path,
    { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" },
    '{"context":{"targetingKey":"' .. user .. '","user-type":"' .. kind_of_user .. '"}}')
end

local function wrong(status, body)
  bad = bad + 1
  if first_bad == "" then first_bad = status .. " " .. string.sub(body, 1, 200) end
end

response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then return wrong(status, body) end
  if kind == "unleash" then
    if string.sub(body, 1, 12) ~= '{"toggles":[' then return wrong(status, body) end
    if string.find(body, '"name":"new-checkout","enabled":true', 1, true) then on = on + 1 end
    return
  end
  local _, trues = string.gsub(body, '"value":true', "")
  local _, falses = string.gsub(body, '"value":false', "")
  if trues + falses ~= flags then return wrong(status, body) end
  if kind == "ofrep" and not string.find(body, '"key":"new-checkout"', 1, true) then
    return wrong(status, body)
  end
  on = on + trues
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format(
    '${MARK}{"requests":%.0f,"durationUs":%.0f,"socketErrors":%.0f,"non2xx":%.0f,' ..
    '"p50Us":%.0f,"p99Us":%.0f,"maxUs":%.0f,"sent":%.0f,"answered":%.0f,"on":%.0f,"bad":%.0f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max,
    t:get("sent"), t:get("answered"), t:get("on"), t:get("bad")))
  local fb = t:get("first_bad")
  if fb ~= nil and fb ~= "" then io.write("first bad answer: " .. fb .. "\\n") end
end
`;

/** Writes the Lua script into `dir` and returns its path. */
export function writeLoadScript(dir: string): string {
  const path = join(dir, "flags.lua");
  writeFileSync(path, LUA);
  return path;
}

export interface LoadRun {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests the script built (users start+1 … start+sent). */
  sent: number;
  answered: number;
  /** `on` answers (for the bulk, `true` values over the whole set). */
  on: number;
  /** Answers that were not a 200 of the expected shape. */
  bad: number;
  firstBad?: string;
  non2xx: number;
  socketErrors: number;
}

export interface LoadOptions {
  wrk: string;
  script: string;
  /** http://127.0.0.1:port (the path comes from the kind). */
  origin: string;
  kind: LoadKind;
  clientKey: string;
  /** Users sent are start+1, start+2, … */
  start: number;
  /** Flags whose values each answer carries (1, or the bulk set's size). */
  flags: number;
  connections: number;
  durationS: number;
  cpu: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadRun> {
  const args = ["-t1", `-c${o.connections}`, `-d${o.durationS}s`, "-s", o.script, o.origin];
  args.push("--", o.kind, o.clientKey, String(o.start), String(o.flags));
  const proc = launch("wrk", o.wrk, args, { cpu: o.cpu });
  const code = await proc.exited;
  const lines = proc.stdout.split("\n");
  const line = lines.find((l) => l.startsWith(MARK));
  if (code !== 0 || line === undefined) {
    throw new Error(`wrk failed (exit ${code}): ${tail(proc.stderr || proc.stdout)}`);
  }
  const r = JSON.parse(line.slice(MARK.length)) as Record<string, number>;
  const n = (k: string): number => r[k] ?? Number.NaN;
  const durationS = n("durationUs") / 1e6;
  const firstBad = lines.find((l) => l.startsWith("first bad answer: "));
  return {
    requests: n("requests"),
    durationS,
    rps: n("requests") / durationS,
    p50Ms: n("p50Us") / 1000,
    p99Ms: n("p99Us") / 1000,
    maxMs: n("maxUs") / 1000,
    sent: n("sent"),
    answered: n("answered"),
    on: n("on"),
    bad: n("bad"),
    ...(firstBad !== undefined ? { firstBad: firstBad.slice(18) } : {}),
    non2xx: n("non2xx"),
    socketErrors: n("socketErrors"),
  };
}
