/**
 * The Lua that runs inside nginx (rendered into `init_by_lua_block`): the state store in a
 * `lua_shared_dict`, the version choice, the balancer, the access-log failure kind and the
 * control server. It is the whole of Aviary's logic in nginx; `render.ts` prepends a `CONFIG`
 * table (services, state file, slots) and nothing else.
 *
 * Why Lua and not nginx directives: `split_clients` and upstream weights are configuration, so
 * each change would be a reload (measured: 63 of 8,000 keep-alive requests failed over 40
 * reloads). Here a change is one write to shared memory that every worker sees on its next
 * request.
 *
 * Written for LuaJIT 2.1 (Debian's libnginx-mod-http-lua 0.10.23 with lua-resty-core). No
 * cjson in Debian's module, so a small strict JSON reader is included (states are read, never
 * re-encoded: the dict keeps the body exactly as it was put). No regular expressions run on
 * anything a client sends: Lua patterns here only read Aviary's own JSON and the state file,
 * and client values are compared with plain string operations.
 *
 * @module
 */

export const LUA_MODULE = String.raw`
local bit = require "bit"
local balancer = require "ngx.balancer"
local band, bor, bxor, lshift, rshift, tobit = bit.band, bit.bor, bit.bxor, bit.lshift, bit.rshift, bit.tobit
local byte, sub, find, char, concat = string.byte, string.sub, string.find, string.char, table.concat
local floor, random = math.floor, math.random
local DICT = ngx.shared[CONFIG.dict]
if not DICT then error("lua_shared_dict " .. CONFIG.dict .. " is missing") end

local M = { CONFIG = CONFIG }
local KNOWN = {}
for _, s in ipairs(CONFIG.services) do KNOWN[s.name] = s end

-- JSON, strict and bounded: objects, arrays, strings, numbers, true/false. null is allowed only as
-- an object member's value (the member is then absent).
local ESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local function json_decode(s)
  local pos = 1
  local function fail(msg) error({ json = msg .. " at byte " .. pos }, 0) end
  local function ws() pos = find(s, "[^ \t\r\n]", pos) or (#s + 1) end
  local value
  local function str()
    local out, n = {}, 0
    pos = pos + 1
    while true do
      local a, b = find(s, '^[^"\\%c]+', pos)
      if a then n = n + 1; out[n] = sub(s, a, b); pos = b + 1 end
      local c = byte(s, pos)
      if c == 34 then pos = pos + 1; return concat(out) end
      if c ~= 92 then fail("unterminated string or control character") end
      local e = sub(s, pos + 1, pos + 1)
      if ESC[e] then
        n = n + 1; out[n] = ESC[e]; pos = pos + 2
      elseif e == "u" then
        local hex = sub(s, pos + 2, pos + 5)
        if not find(hex, "^%x%x%x%x$") then fail("bad \\u escape") end
        local cp = tonumber(hex, 16)
        pos = pos + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, pos, pos + 1) == "\\u" then
          local lo = tonumber(sub(s, pos + 2, pos + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            pos = pos + 6
          end
        end
        n = n + 1; out[n] = utf8(cp)
      else
        fail("bad escape")
      end
    end
  end
  function value(depth)
    if depth > 16 then fail("nested too deeply") end
    ws()
    local c = byte(s, pos)
    if c == 34 then return str() end
    if c == 123 then
      local obj = {}
      pos = pos + 1; ws()
      if byte(s, pos) == 125 then pos = pos + 1; return obj end
      while true do
        ws()
        if byte(s, pos) ~= 34 then fail("expected a member name") end
        local k = str()
        ws()
        if byte(s, pos) ~= 58 then fail("expected ':'") end
        pos = pos + 1
        ws()
        if sub(s, pos, pos + 3) == "null" then pos = pos + 4 else obj[k] = value(depth + 1) end
        ws()
        c = byte(s, pos)
        pos = pos + 1
        if c == 125 then return obj end
        if c ~= 44 then fail("expected ',' or '}'") end
      end
    end
    if c == 91 then
      local arr, n = {}, 0
      pos = pos + 1; ws()
      if byte(s, pos) == 93 then pos = pos + 1; return arr end
      while true do
        n = n + 1; arr[n] = value(depth + 1)
        ws()
        c = byte(s, pos)
        pos = pos + 1
        if c == 93 then return arr end
        if c ~= 44 then fail("expected ',' or ']'") end
      end
    end
    if sub(s, pos, pos + 3) == "true" then pos = pos + 4; return true end
    if sub(s, pos, pos + 4) == "false" then pos = pos + 5; return false end
    local a, b = find(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if a then
      local num = tonumber(sub(s, a, b))
      if num then pos = b + 1; return num end
    end
    fail("unexpected value")
  end
  local v = value(0)
  ws()
  if pos <= #s then fail("trailing bytes") end
  return v
end
M.json_decode = json_decode

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", byte(c)) end) .. '"'
end
M.json_string = json_string

-- A service's state, checked and compiled into what a request reads. Errors name the field.
local function bad(msg) error({ state = msg }, 0) end
local function is_array(t) return type(t) == "table" and (next(t) == nil or t[1] ~= nil) end

local function compile_version(v, field, role)
  if type(v) ~= "table" then bad(field .. " must be an object") end
  if type(v.version) ~= "string" or not find(v.version, "^[%w][%w._+-]*$") or #v.version > 128 then
    bad(field .. ".version must be a version name")
  end
  if not is_array(v.targets) or #v.targets < 1 or #v.targets > CONFIG.slots then
    bad(field .. ".targets must hold 1 to " .. CONFIG.slots .. " targets")
  end
  local peers = {}
  for i, t in ipairs(v.targets) do
    if type(t) ~= "string" then bad(field .. ".targets[" .. (i - 1) .. "] must be a string") end
    local host, port = t:match("^http://(%d+%.%d+%.%d+%.%d+):(%d+)/?$")
    if not host then host, port = t:match("^http://(%[[%x:.]+%]):(%d+)/?$") end
    if not host then host = t:match("^http://(%d+%.%d+%.%d+%.%d+)/?$") or t:match("^http://(%[[%x:.]+%])/?$"); port = "80" end
    port = tonumber(port)
    if not host or not port or port < 1 or port > 65535 then
      bad(field .. ".targets[" .. (i - 1) .. "] must be http://IP:PORT (nginx resolves no names here)")
    end
    if sub(host, 1, 1) == "[" then host = sub(host, 2, -2) end
    peers[i] = { host, port }
  end
  return { name = v.version, role = role, peers = peers, rr = 0 }
end

local function compile_matches(m, field)
  local checks = {}
  if type(m) ~= "table" then bad(field .. " must be an object") end
  for _, kind in ipairs({ "headers", "cookies", "query" }) do
    local group = m[kind]
    if group ~= nil then
      if type(group) ~= "table" or is_array(group) and next(group) ~= nil then bad(field .. "." .. kind .. " must be an object") end
      for name, how in pairs(group) do
        local f = field .. "." .. kind .. "." .. name
        if type(how) ~= "table" then bad(f .. " must be an object") end
        local exact, prefix = how.exact, how.prefix
        if how.regex ~= nil then bad(f .. ": regex is not supported by the nginx engine") end
        if (exact == nil) == (prefix == nil) then bad(f .. " needs exactly one of exact or prefix") end
        if exact ~= nil and type(exact) ~= "string" then bad(f .. ".exact must be a string") end
        if prefix ~= nil and (type(prefix) ~= "string" or prefix == "") then bad(f .. ".prefix must be a non-empty string") end
        checks[#checks + 1] = { kind = kind, name = kind == "headers" and name:lower() or name, exact = exact, prefix = prefix }
      end
    end
  end
  if #checks == 0 then bad(field .. " needs at least one condition") end
  return checks
end

local function compile_state(raw)
  local ok, s = pcall(json_decode, raw)
  if not ok then bad(type(s) == "table" and ("not JSON: " .. (s.json or "?")) or tostring(s)) end
  if type(s) ~= "table" or is_array(s) and next(s) ~= nil then bad("the state must be a JSON object") end
  local st = { stable = compile_version(s.stable, "stable", "stable") }
  if s.canary ~= nil then st.canary = compile_version(s.canary, "canary", "canary") end
  local w = s.weight
  if type(w) ~= "number" or w ~= w or w < 0 or w > 100 then bad("weight must be a number from 0 to 100") end
  st.bp = floor(w * 100 + 0.5)
  if s.mirror ~= nil then bad("mirror is not supported by the nginx engine") end
  st.routes = {}
  local routes = s.routes or {}
  if not is_array(routes) or #routes > 64 then bad("routes must be an array of at most 64 routes") end
  for i, r in ipairs(routes) do
    local f = "routes[" .. (i - 1) .. "]"
    if type(r) ~= "table" then bad(f .. " must be an object") end
    if r.name ~= nil and type(r.name) ~= "string" then bad(f .. ".name must be a string") end
    if r.managed ~= nil and type(r.managed) ~= "boolean" then bad(f .. ".managed must be true or false") end
    if r.to ~= "stable" and r.to ~= "canary" then bad(f .. ".to must be stable or canary") end
    -- A route to the canary waits, inactive, while there is no canary (as in the embedded router).
    st.routes[i] = { to = r.to == "canary" and st.canary or st.stable, checks = compile_matches(r.match, f .. ".match") }
  end
  local k = s.sticky
  if k ~= nil then
    if type(k) ~= "table" or type(k.group) ~= "string" or k.group == "" then bad("sticky.group must be a non-empty string") end
    if k.kind == "header" or k.kind == "cookie" then
      if type(k.name) ~= "string" or k.name == "" then bad("sticky.name must be a non-empty string") end
    elseif k.kind ~= "clientAddress" then
      bad("sticky.kind must be header, cookie or clientAddress")
    end
    st.sticky = { kind = k.kind, name = k.kind == "header" and k.name:lower() or k.name, prefix = k.group .. ":" }
  end
  return st
end
M.compile_state = compile_state

-- MurmurHash3 x86_32, seed 0, over bytes, as src/dataplane/hash.ts. LuaJIT's bit ops work on
-- signed 32-bit values; a 32x32 multiply is split in 16-bit halves so no product passes 2^51,
-- the range in which bit.tobit wraps exactly.
local function imul(a, b)
  return tobit(lshift(tobit(rshift(a, 16) * b), 16) + band(a, 0xffff) * b)
end
local C1, C2, F1, F2 = tobit(0xcc9e2d51), tobit(0x1b873593), tobit(0x85ebca6b), tobit(0xc2b2ae35)
local function rotl(x, r) return bor(lshift(x, r), rshift(x, 32 - r)) end
local function mixk(k) return imul(rotl(imul(k, C1), 15), C2) end

local function murmur3(s)
  local h, n = 0, #s
  local whole = n - n % 4
  for i = 1, whole, 4 do
    local a, b, c, d = byte(s, i, i + 3)
    h = bxor(h, mixk(bor(a, lshift(b, 8), lshift(c, 16), lshift(d, 24))))
    h = tobit(imul(rotl(h, 13), 5) + 0xe6546b64)
  end
  if n > whole then
    local k = 0
    for j = n, whole + 1, -1 do k = bor(lshift(k, 8), byte(s, j)) end
    h = bxor(h, mixk(k))
  end
  h = bxor(h, n)
  h = imul(bxor(h, rshift(h, 16)), F1)
  h = imul(bxor(h, rshift(h, 13)), F2)
  h = bxor(h, rshift(h, 16))
  if h < 0 then h = h + 4294967296 end
  return h
end
M.murmur3 = murmur3

function M.bucket(key)
  local h = murmur3(key)
  return (h % 100) * 100 + floor(h / 100) % 100
end
local bucket = M.bucket

-- What a request shows the rules: header values joined as Node joins repeated headers.
local function header(req, name)
  local hs = req.headers
  if not hs then hs = ngx.req.get_headers(0); req.headers = hs end
  local v = hs[name]
  if type(v) == "table" then v = concat(v, name == "cookie" and "; " or ", ") end
  return v
end

-- JavaScript's String.prototype.trim over latin1 bytes: TAB LF VT FF CR SP NBSP.
local SPACE = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true, [160] = true }
local function trim(v)
  local a, b = 1, #v
  while a <= b and SPACE[byte(v, a)] do a = a + 1 end
  while b >= a and SPACE[byte(v, b)] do b = b - 1 end
  return sub(v, a, b)
end

-- readCookie of src/dataplane/request-view.ts: spaces before a name skipped, the value trimmed,
-- surrounding double quotes removed.
local function read_cookie(h, name)
  if not h then return nil end
  local from, n, ln = 1, #h, #name
  while from <= n do
    local start = from
    while byte(h, start) == 32 do start = start + 1 end
    local stop = find(h, ";", start, true) or (n + 1)
    if sub(h, start, start + ln - 1) == name and byte(h, start + ln) == 61 then
      local v = trim(sub(h, start + ln + 1, stop - 1))
      if #v >= 2 and byte(v, 1) == 34 and byte(v, -1) == 34 then v = sub(v, 2, -2) end
      return v
    end
    from = stop + 1
  end
  return nil
end
M.read_cookie = read_cookie

local function query(req, name)
  local args = req.args
  if not args then args = ngx.req.get_uri_args(0); req.args = args end
  local v = args[name]
  if type(v) == "table" then v = v[1] end
  if v == true then v = "" end
  return v
end

local function value_of(req, c)
  if c.kind == "headers" then return header(req, c.name) end
  if c.kind == "cookies" then return read_cookie(header(req, "cookie"), c.name) end
  return query(req, c.name)
end

local function matches(req, checks)
  for i = 1, #checks do
    local c = checks[i]
    local v = value_of(req, c)
    if v == nil then return false end
    if c.exact ~= nil then
      if v ~= c.exact then return false end
    elseif sub(v, 1, #c.prefix) ~= c.prefix then
      return false
    end
  end
  return true
end

local function sticky_key(req, k)
  local v
  if k.kind == "header" then v = header(req, k.name)
  elseif k.kind == "cookie" then v = read_cookie(header(req, "cookie"), k.name)
  else v = ngx.var.remote_addr end
  if v == "" then return nil end
  return v
end

-- Each worker keeps the compiled state per service and recompiles only when the service's
-- change counter in the dict moved: one dict read per request in the steady state.
local cache = {}
local function current(name)
  local v = DICT:get("v:" .. name)
  local c = cache[name]
  if c and c.v == v then return c.st end
  local raw = DICT:get("s:" .. name)
  local st
  if raw then
    local ok, res = pcall(compile_state, raw)
    if ok then st = res else ngx.log(ngx.ERR, "aviary: state of ", name, " unreadable: ", tostring(res.state or res)) end
  end
  cache[name] = { v = v, st = st }
  return st
end

local function choose(req, st)
  for i = 1, #st.routes do
    local r = st.routes[i]
    if r.to and matches(req, r.checks) then return r.to end
  end
  local canary = st.canary
  if not canary or st.bp <= 0 then return st.stable end
  if st.bp >= 10000 then return canary end
  local key = st.sticky and sticky_key(req, st.sticky)
  local b = key and bucket(st.sticky.prefix .. key) or random(0, 9999)
  return b < st.bp and canary or st.stable
end
M.choose = choose

-- access phase of a service's location.
function M.route(name)
  local st = current(name)
  if not st then
    -- Not served (finalized, or never given a state): as if no service matched.
    return ngx.exit(404)
  end
  local ver = choose({}, st)
  ngx.ctx.aviary_ver = ver
  local var = ngx.var
  var.aviary_svc = name
  var.aviary_ver = ver.name
  var.aviary_role = ver.role
end

-- balancer_by_lua: round-robin over the chosen version's targets (per worker); a failed
-- connect is tried once more on the next target (proxy_next_upstream decides when).
function M.balance()
  local ctx = ngx.ctx
  local ver = ctx.aviary_ver
  if not ver then return ngx.exit(500) end
  local peers = ver.peers
  local i = ctx.aviary_try
  if i == nil then
    ver.rr = ver.rr % #peers + 1
    i = ver.rr
    if #peers > 1 then balancer.set_more_tries(1) end
  else
    i = i % #peers + 1
  end
  ctx.aviary_try = i
  local p = peers[i]
  local ok, err = balancer.set_current_peer(p[1], p[2])
  if not ok then
    ngx.log(ngx.ERR, "aviary: cannot use target ", p[1], ":", p[2], ": ", err)
    return ngx.exit(502)
  end
end

local function last(list)
  if not list or list == "" then return nil end
  return list:match("([^,%s:]+)%s*$")
end

-- log phase, before the access log is written: fail=<kind> when no usable response came from
-- the (last) target nginx tried.
function M.log()
  local var = ngx.var
  if var.aviary_role == "" then return end
  local us = last(var.upstream_status)
  if not us or ngx.status == 499 then return end
  if last(var.upstream_header_time) ~= "-" then return end
  local kind
  if last(var.upstream_connect_time) == "-" then
    kind = us == "504" and "timeout" or "connect"
  else
    kind = us == "504" and "timeout" or "reset"
  end
  var.aviary_fail = " fail=" .. kind
end

-- The control server. PUT/GET/DELETE /aviary/v1/services/<name>, GET /aviary/v1/services.
local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Cache-Control"] = "no-store"
  ngx.print(body)
  return ngx.exit(status)
end
local function problem(status, code, msg)
  return reply(status, '{"code":' .. json_string(code) .. ',"error":' .. json_string(msg) .. "}\n")
end

local function store(name, raw)
  local ok, err = DICT:safe_set("s:" .. name, raw)
  if not ok then return nil, err end
  DICT:incr("v:" .. name, 1, 0)
  return true
end

local function all()
  local parts = {}
  for _, s in ipairs(CONFIG.services) do
    local raw = DICT:get("s:" .. s.name)
    if raw then parts[#parts + 1] = json_string(s.name) .. ":" .. raw end
  end
  local rendered = {}
  for i, s in ipairs(CONFIG.services) do rendered[i] = json_string(s.name) end
  return '{"boot":' .. json_string(DICT:get("boot") or "") .. ',"rendered":[' .. concat(rendered, ",")
    .. '],"services":{' .. concat(parts, ",") .. "}}\n"
end

local BASE = "/aviary/v1/services"
function M.control()
  local uri, method = ngx.var.uri, ngx.req.get_method()
  if uri == BASE or uri == BASE .. "/" then
    if method ~= "GET" then ngx.header["Allow"] = "GET"; return problem(405, "method", "only GET here") end
    return reply(200, all())
  end
  if sub(uri, 1, #BASE + 1) ~= BASE .. "/" then return problem(404, "not-found", "no such resource") end
  local name = sub(uri, #BASE + 2)
  if not find(name, "^[a-z0-9._-]+$") or #name > 63 then return problem(404, "not-found", "no such service") end
  if not KNOWN[name] then
    return problem(404, "not-configured", "service " .. name .. " is not in the rendered configuration: render it and reload nginx")
  end
  if method == "GET" then
    local raw = DICT:get("s:" .. name)
    if not raw then return problem(404, "not-served", "service " .. name .. " has no state") end
    return reply(200, raw)
  elseif method == "DELETE" then
    DICT:delete("s:" .. name)
    DICT:incr("v:" .. name, 1, 0)
    ngx.status = 204
    return ngx.exit(204)
  elseif method == "PUT" then
    local ctype = ngx.var.content_type or ""
    if sub(ctype, 1, 16) ~= "application/json" then return problem(415, "media-type", "send application/json") end
    ngx.req.read_body()
    local raw = ngx.req.get_body_data()
    if not raw then
      if ngx.req.get_body_file() then return problem(413, "too-large", "the body is larger than the control server buffers") end
      return problem(400, "bad-state", "the body is empty")
    end
    local ok, err = pcall(compile_state, raw)
    if not ok then return problem(400, "bad-state", type(err) == "table" and err.state or tostring(err)) end
    local stored, serr = store(name, raw)
    if not stored then return problem(507, "no-room", "shared dict full: " .. tostring(serr)) end
    ngx.status = 204
    return ngx.exit(204)
  end
  ngx.header["Allow"] = "GET, PUT, DELETE"
  return problem(405, "method", "use GET, PUT or DELETE")
end

-- At start and at each reload (in the master): a fresh dict gets a boot id; any rendered
-- service the dict lacks gets its last applied state from the state file, else the state the
-- spec describes. The state file has one line per service: "<name> <state JSON>".
function M.init()
  math.randomseed(ngx.now() * 1000)
  DICT:safe_add("boot", string.format("%x-%06x", floor(ngx.now() * 1000), random(0, 0xffffff)))
  local saved = {}
  local f = io.open(CONFIG.state_file, "rb")
  if f then
    for line in f:lines() do
      local sp = find(line, " ", 1, true)
      if sp then saved[sub(line, 1, sp - 1)] = sub(line, sp + 1) end
    end
    f:close()
  end
  for _, s in ipairs(CONFIG.services) do
    if not DICT:get("s:" .. s.name) then
      local raw = saved[s.name]
      if raw and not pcall(compile_state, raw) then
        ngx.log(ngx.ERR, "aviary: ", CONFIG.state_file, ": state of ", s.name, " unreadable; serving the rendered one")
        raw = nil
      end
      if f and not raw then raw = nil else raw = raw or s.initial end
      if raw then store(s.name, raw) end
    end
  end
end

function M.init_worker()
  math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
end

return M
`;
