-- `--ids ID,ID,...` and `--ids -`: the accounts a command acts on, as given or from stdin.
--
-- stdin may hold what `smartlua accounts list --fields id` prints in any format: JSON
-- ([3001, ...] or [{"id": 3001}, ...]), NDJSON objects, or ids separated by commas and white
-- space (a csv "id" header line is skipped). Records labelled with a profile (the output of a
-- command run with --profile a,b) go to that profile only.
local json = require "smartlead.json"
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"

local M = {}

local usage = context.usage
local to_id = convert.TYPES.id

local stdin_text -- read once: every profile of --profile a,b reads the same ids

local function read_stdin()
  stdin_text = stdin_text or io.stdin:read("a") or ""
  return stdin_text
end

-- {word=, profile=} entries of the text.
local function entries(text)
  local out = {}
  local function add(v)
    if type(v) == "table" then
      out[#out + 1] = { word = tostring(v.id), profile = type(v.profile) == "string" and v.profile or nil }
    else
      out[#out + 1] = { word = tostring(v) }
    end
  end
  local trimmed = text:match("^%s*(.-)%s*$")
  if trimmed:sub(1, 1) == "[" then
    local ok, list = pcall(json.decode, trimmed)
    if not ok or type(list) ~= "table" then usage("--ids: not a JSON array") end
    for _, v in ipairs(list) do add(v) end
  elseif trimmed:sub(1, 1) == "{" then
    for line in trimmed:gmatch("[^\n]+") do
      local ok, v = pcall(json.decode, line)
      if not ok or type(v) ~= "table" then usage("--ids: not one JSON object per line") end
      add(v)
    end
  else
    for word in text:gmatch("[^,%s]+") do
      if word ~= "id" then add(word) end
    end
  end
  return out
end

-- ids.parse(text, profile) -> non-empty JSON array of distinct ids; "-" reads stdin. A bad
-- entry, or no id at all, is a usage error (exit 2): nothing is sent.
function M.parse(text, profile)
  local from_stdin = text == "-"
  if from_stdin then text = read_stdin() end
  local ids, seen = json.array {}, {}
  for _, e in ipairs(entries(text)) do
    if not (profile and e.profile and e.profile ~= profile) then
      local id, must = to_id(e.word)
      if not id then usage(("--ids entry must be %s, got '%s'"):format(must, e.word)) end
      if not seen[id] then ids[#ids + 1], seen[id] = id, true end
    end
  end
  if #ids == 0 then
    if from_stdin then
      usage("--ids -: no account ids on stdin (the command before it printed none, or failed); nothing was sent")
    end
    usage("--ids needs at least one account id, e.g. --ids 3001,3002 (or --ids - for stdin)")
  end
  return ids
end

return M
