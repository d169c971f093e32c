/**
 * The Lua file the rendered HAProxy configuration loads (`lua-load` in `global`). It registers
 * two sample fetches:
 *
 * - `lua.aviary_bucket(<n>)`: the request's bucket in [0, 10000) for the n-th rendered service,
 *   computed exactly as the embedded router does (`src/dataplane/hash.ts`): MurmurHash3 x86_32,
 *   seed 0, of the bytes of `<group>:<key>`, then `(h % 100) * 100 + floor(h / 100) % 100`; a
 *   uniform draw when the request has no sticky key. Lua 5.3 integers are 64-bit, so every
 *   32-bit step is masked.
 * - `lua.aviary_value(<n>)`: the n-th value a match route reads (a header's values joined with
 *   ", " as Node joins them, a cookie as `readCookie` reads it, a query parameter decoded as
 *   URLSearchParams decodes it), or nothing when absent. HAProxy's own fetches differ in the
 *   details (`req.hdr` splits on commas, `req.cook` does not strip quotes), and a route must
 *   send a user where the embedded router would.
 *
 * Values are compared by the configuration's ACLs with `-m str` / `-m beg` (no regex), so
 * nothing a client sends is run through a backtracking engine.
 *
 * @module
 */

/** What one sticky key or one match value is read from. */
export interface ValueSource {
  kind: "header" | "cookie" | "query" | "clientAddress";
  /** Header (lower case), cookie or query parameter name; empty for clientAddress. */
  name: string;
}

export interface LuaService {
  /** `<group>:` as the embedded router prefixes the key. */
  prefix: string;
  /** Where the sticky key comes from, or undefined: a random bucket. */
  sticky: ValueSource | undefined;
}

/**
 * A Lua string literal holding `bytes`, every byte escaped as `\ddd`, so no value can close the
 * literal or reach the file as anything but data.
 */
export function luaBytes(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes) out += `\\${b.toString().padStart(3, "0")}`;
  return `${out}"`;
}

/** The low byte of each UTF-16 code unit, as `hash.ts` hashes a string. */
export function lowBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

const utf8 = (text: string) => new TextEncoder().encode(text);

function sourceLiteral(s: ValueSource): string {
  // Header names arrive lower-cased from HAProxy; query names are compared after decoding (UTF-8).
  return `{ kind = "${s.kind}", name = ${luaBytes(s.kind === "query" ? utf8(s.name) : lowBytes(s.name))} }`;
}

export function renderLua(
  services: readonly LuaService[],
  values: readonly ValueSource[],
  catalog: string,
): string {
  const serviceLines = services.map(
    (s, i) =>
      `  [${i + 1}] = { prefix = ${luaBytes(lowBytes(s.prefix))}, sticky = ${s.sticky === undefined ? "nil" : sourceLiteral(s.sticky)} },`,
  );
  const valueLines = values.map((v, i) => `  [${i + 1}] = ${sourceLiteral(v)},`);
  return `-- Rendered by Aviary (aviary render haproxy): Aviary's sticky bucket and match values.
-- Regenerate it with the configuration; do not edit by hand.

local SERVICES = {
${serviceLines.join("\n")}
}

local VALUES = {
${valueLines.join("\n")}
}

local M32 = 0xffffffff

local function mix_k1(k)
  k = (k * 0xcc9e2d51) & M32
  k = ((k << 15) | (k >> 17)) & M32
  return (k * 0x1b873593) & M32
end

local function mix_h1(h, k)
  h = h ~ mix_k1(k)
  h = ((h << 13) | (h >> 19)) & M32
  return (h * 5 + 0xe6546b64) & M32
end

-- MurmurHash3 x86_32, seed 0, of the bytes of s.
local function murmur3(s)
  local h = 0
  local n = #s
  local i = 1
  while i + 3 <= n do
    local a, b, c, d = string.byte(s, i, i + 3)
    h = mix_h1(h, a | (b << 8) | (c << 16) | (d << 24))
    i = i + 4
  end
  local k = 0
  local shift = 0
  while i <= n do
    k = k | (string.byte(s, i) << shift)
    shift = shift + 8
    i = i + 1
  end
  if shift > 0 then h = h ~ mix_k1(k) end
  h = h ~ n
  h = h ~ (h >> 16)
  h = (h * 0x85ebca6b) & M32
  h = h ~ (h >> 13)
  h = (h * 0xc2b2ae35) & M32
  h = h ~ (h >> 16)
  return h
end

-- The values of one header joined as Node joins repeated headers.
local function header(txn, name, sep)
  local v = txn.http:req_get_headers()[name]
  if v == nil then return nil end
  local parts = {}
  local i = 0
  while v[i] ~= nil do
    parts[#parts + 1] = v[i]
    i = i + 1
  end
  if #parts == 0 then return nil end
  return table.concat(parts, sep)
end

-- JavaScript's String.prototype.trim on latin1 bytes: tab, LF, VT, FF, CR, space, NBSP.
local function trim(s)
  return (string.gsub(string.gsub(s, "^[\\t\\n\\v\\f\\r \\xa0]+", ""), "[\\t\\n\\v\\f\\r \\xa0]+$", ""))
end

-- readCookie in src/dataplane/request-view.ts, byte for byte.
local function read_cookie(h, name)
  if h == nil then return nil end
  local len = #h
  local from = 1
  while from <= len do
    local start = from
    while string.byte(h, start) == 32 do start = start + 1 end
    local stop = string.find(h, ";", start, true)
    if stop == nil then stop = len + 1 end
    if string.sub(h, start, start + #name - 1) == name and string.byte(h, start + #name) == 61 then
      local value = trim(string.sub(h, start + #name + 1, stop - 1))
      if #value >= 2 and string.sub(value, 1, 1) == '"' and string.sub(value, -1) == '"' then
        value = string.sub(value, 2, -2)
      end
      return value
    end
    from = stop + 1
  end
  return nil
end

-- application/x-www-form-urlencoded decoding, as URLSearchParams does it: '+' is a space, a
-- %XX escape is its byte, anything else (a lone '%') stays as it is.
local function form_decode(s)
  s = string.gsub(s, "+", " ")
  return (string.gsub(s, "%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- The first value of a query parameter, decoded, as URLSearchParams.get returns it.
local function query(txn, name)
  local q = txn.f:query()
  if q == nil then return nil end
  for pair in string.gmatch(q, "[^&]+") do
    local eq = string.find(pair, "=", 1, true)
    local k, v
    if eq == nil then k, v = pair, "" else k, v = string.sub(pair, 1, eq - 1), string.sub(pair, eq + 1) end
    if form_decode(k) == name then return form_decode(v) end
  end
  return nil
end

local function read(txn, source)
  if source.kind == "header" then return header(txn, source.name, ", ") end
  if source.kind == "cookie" then return read_cookie(header(txn, "cookie", "; "), source.name) end
  if source.kind == "query" then return query(txn, source.name) end
  return txn.f:src()
end

-- What this configuration renders, for the provider to check a route exists before switching it on.
local CATALOG = ${luaBytes(utf8(catalog))}

core.register_cli({ "aviary", "catalog" }, "Aviary: the services and managed routes rendered here", function(applet)
  applet:send(CATALOG)
end)

core.register_fetches("aviary_bucket", function(txn, n)
  local svc = SERVICES[tonumber(n)]
  local key = nil
  if svc ~= nil and svc.sticky ~= nil then key = read(txn, svc.sticky) end
  if key == nil or key == "" then return math.random(0, 9999) end
  local h = murmur3(svc.prefix .. key)
  return (h % 100) * 100 + (h // 100) % 100
end)

core.register_fetches("aviary_value", function(txn, n)
  local source = VALUES[tonumber(n)]
  if source == nil then return nil end
  return read(txn, source)
end)
`;
}
