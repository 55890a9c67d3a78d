-- bench/json_page.lua: what smartlead.json costs on one page of the account listing, the page
-- every fleet scan reads (100 accounts as the mock lists them: warmup_details, tags, limits...).
--
--   build/smartlua bench/json_page.lua [ROUNDS]
--
-- Fetches one page from an in-process mock, encodes it once to get the page's text, then times
-- json.decode(text) and json.encode(page) in rounds of ITER pages each (CPU time, os.clock).
-- Prints one line per figure and, last, `RESULT {json}` with the medians in microseconds per
-- page, for bench/run.py.
local json = require "smartlead.json"
local mock_server = require "smartlead.mock.server"

local ROUNDS = math.tointeger(tonumber(arg and arg[1] or "")) or 9
local ITER = 200

local function one_page()
  local server = mock_server.start {}
  local client = server:client()
  local page = assert(client:request("GET", "/email-accounts/", { query = { offset = 0, limit = 100 } }))
  client:close()
  server:stop()
  assert(#page == 100, "a page of " .. #page .. " accounts")
  return page
end

-- Median microseconds per call of f over ROUNDS rounds of ITER calls.
local function time_us(f)
  local per = {}
  for r = 1, ROUNDS do
    collectgarbage()
    local t0 = os.clock()
    for _ = 1, ITER do f() end
    per[r] = (os.clock() - t0) / ITER * 1e6
  end
  table.sort(per)
  return per[(#per + 1) // 2]
end

local page = one_page()
local text = json.encode(page)
assert(#json.decode(text) == 100)
for _ = 1, ITER do json.decode(text) end -- warm up

local decode_us = time_us(function() json.decode(text) end)
local encode_us = time_us(function() json.encode(page) end)
print(("page: 100 accounts, %d bytes of JSON; median of %d rounds of %d"):format(#text, ROUNDS, ITER))
print(("decode: %.0f us per page"):format(decode_us))
print(("encode: %.0f us per page"):format(encode_us))
local result = { bytes = #text, decode_us = decode_us, encode_us = encode_us, rounds = ROUNDS }
io.stdout:write("RESULT ", json.encode(result), "\n")
