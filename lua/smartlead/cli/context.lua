-- What a running command has: its options and arguments, the client, output, the run layer, failures.
--
-- Output decides, then prints: what a command writes through ctx:writer() or ctx:text() is held
-- (the sink) and reaches stdout only once the command has succeeded, so a command that fails
-- prints nothing there. NDJSON is the exception: it streams, record by record, and a failure
-- ends it with an error line on stderr and a non-zero exit. Under `--profile a,b` one sink
-- gathers every profile's records, each labelled with its profile.
local core = require "smartlead.core"
local parser = require "smartlead.cli.parser"

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, refused = 3, partial = 4 }

-- A failure reported in one line with its exit code: {code=, message=}.
M.Failure = { __tostring = function(f) return f.message end }

function M.fail(code, message) error(setmetatable({ code = code, message = message }, M.Failure), 0) end

-- A usage error found while running (a bad --where, --ids from stdin): reported as the parser's are.
function M.usage(message) parser.usage(message) end

-- An error message without the "file.lua:12: " a raise puts in front.
function M.clean(msg)
  return (tostring(msg):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^%(command line%):%d+: ", ""))
end

-- "smartlua: " and the parts on stderr, any key masked.
function M.err_line(...)
  io.stderr:write("smartlua: ", core.mask(table.concat({ ... })), "\n")
  io.stderr:flush()
end

---------------------------------------------------------------------------- the sink

local Sink = {}
Sink.__index = Sink

-- Output held as text until the command has succeeded: a big answer costs its text, not its tables.
local Buffer = {}
Buffer.__index = Buffer

function Buffer:write(...)
  for i = 1, select("#", ...) do self[#self + 1] = tostring((select(i, ...))) end
  return self
end

function Buffer:flush() return self end

-- context.sink(format, multi) -> sink; multi: label every record with its profile (the records
-- are held, to be printed grouped by profile); else the format's writer writes into a buffer
-- (NDJSON: straight to stdout).
function M.sink(format, multi)
  local sink = setmetatable({ format = format, multi = multi, items = {} }, Sink)
  if not multi and format ~= "ndjson" then sink.buffer = setmetatable({}, Buffer) end
  return sink
end

local function labelled(record, profile)
  if type(record) ~= "table" then return record end
  local out = {}
  for k, v in pairs(record) do out[k] = v end
  out.profile = profile
  return out
end

-- The writer options as the sink prints them: a profile column first when labelling, colour
-- as stdout allows (the buffer is no terminal).
function Sink:writer_options(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.color == nil then o.color = require("smartlead.formats").color_enabled() end
  if not self.multi then return o end
  o.single = nil
  if o.fields then
    local fields = { "profile" }
    for _, f in ipairs(o.fields) do
      if f ~= "profile" then fields[#fields + 1] = f end
    end
    o.fields = fields
  end
  return o
end

function Sink:real_writer(opts)
  if not self.out then
    self.out = require("smartlead.formats").writer(self.format, self.buffer or io.stdout, self:writer_options(opts))
  end
  return self.out
end

-- A writer for records; profile labels them under --profile a,b. lazy: nothing at all is printed
-- unless a record is added (else an empty answer still prints: [] in json).
function Sink:writer(opts, profile, lazy)
  local sink = self
  if not lazy then sink.first_opts = sink.first_opts or opts end
  local w = { count = 0 }
  function w.add(_, record)
    w.count = w.count + 1
    sink.first_opts = sink.first_opts or opts
    if sink.multi then record = labelled(record, profile) end
    if sink.multi and sink.format ~= "ndjson" then
      sink.items[#sink.items + 1] = { record = record, opts = opts, profile = profile }
    else
      sink:real_writer(opts):add(record)
    end
  end
  function w.close() end
  return w
end

-- Text printed as it is (a pretty account, an API answer), held like records.
function Sink:text(text, profile)
  if self.buffer then
    self.buffer:write(text)
  else
    self.items[#self.items + 1] = { text = text, profile = profile }
  end
end

-- The held items, grouped by profile in the order the profiles were given (sink.order).
function Sink:ordered()
  local order, items = self.order, self.items
  if not order then return items end
  local keyed = {}
  for i, item in ipairs(items) do keyed[i] = { rank = order[item.profile] or 0, i = i, item = item } end
  table.sort(keyed, function(a, b)
    if a.rank ~= b.rank then return a.rank < b.rank end
    return a.i < b.i
  end)
  local out = {}
  for i, k in ipairs(keyed) do out[i] = k.item end
  return out
end

-- Prints what was held (print = true) or drops it; ends a stream.
function Sink:flush(print)
  if print then
    for _, item in ipairs(self:ordered()) do
      if item.text then
        local prefix = self.multi and ("[" .. tostring(item.profile) .. "] ") or ""
        io.stdout:write((prefix ~= "" and item.text:gsub("([^\n]*\n)", prefix .. "%1") or item.text))
      else
        self:real_writer(item.opts):add(item.record)
      end
    end
    if not self.out and self.first_opts and self.format ~= "ndjson" then self:real_writer(self.first_opts) end
  end
  if self.out and (print or self.format == "ndjson") then self.out:close() end
  if print and self.buffer then
    for _, piece in ipairs(self.buffer) do io.stdout:write(piece) end
  end
  self.items, self.buffer = {}, self.buffer and setmetatable({}, Buffer)
  io.stdout:flush()
end

---------------------------------------------------------------------------- the context

local Context = {}
Context.__index = Context

-- parsed: the parser's result for a command node; extra: {profile=, label=, prefix=, sink=}
-- when the command runs once per profile.
function M.new(parsed, extra)
  extra = extra or {}
  local self = setmetatable({ node = parsed.node, opts = parsed.opts, given = parsed.given, order = parsed.order,
    args = parsed.args, command = parsed.command, profile = extra.profile, label = extra.label,
    prefix = extra.prefix, multi = extra.sink ~= nil }, Context)
  self.sink = extra.sink or M.sink(self:format(), false)
  return self
end

-- The client, made once: settings from flags, environment, profile (smartlead.client()).
function Context:client()
  if self.client_ then return self.client_ end
  local ok, client = pcall(require("smartlead").client, self.profile and { profile = self.profile } or nil)
  if not ok then M.fail(M.EXIT.error, (M.clean(client):gsub("^smartlead%.client: ", ""))) end
  if self.run and self.run.session then client:set_session(self.run.session) end
  self.client_ = client
  return client
end

function Context:close()
  if self.client_ then self.client_:close() end
end

function Context:format()
  return self.opts.format or require("smartlead.formats").default()
end

-- A record writer in the chosen format (held until the command succeeds; NDJSON streams).
function Context:writer(opts)
  return self.sink:writer(opts, self.profile)
end

-- Text for stdout as it is, held like records.
function Context:text(text) self.sink:text(text, self.profile) end

-- A writer for the results of writes: prints nothing when there are none (a planned run).
function Context:result_writer(fields) return self.sink:writer({ fields = fields }, self.profile, true) end

-- "smartlua: [profile: ]..." on stderr.
function Context:err(...) M.err_line(self.label or "", ...) end

-- True for the synthetic answer of a planned write: the run layer prints the plan instead.
function M.planned(answer) return type(answer) == "table" and answer.planned == true end

local function run_options(ctx)
  local o = ctx.opts
  return {
    plan = o.plan or false, yes = o.yes or false, no_journal = o.no_journal or false,
    tty = core.isatty(0) and core.isatty(2), plan_out = o.plan_out, journal = o.journal, resume = o.resume,
    max_changes = o.max_changes, repl = false,
    script = "smartlua " .. ctx.node.path, command = ctx.command, profile = ctx.profile or o.profile,
    label = ctx.label, prefix = ctx.prefix,
    client = function() return ctx:client() end,
  }
end

-- True when the command runs planned (--plan, or planned first): its writes are not sent now.
function Context:planning()
  local s = self.run and self.run.session
  return s ~= nil and s.mode == "plan"
end

-- Runs fn() -> exit code inside a run of the run layer, as a script runs: planned with --plan,
-- planned first and applied after with --max-changes or on a terminal, journaled otherwise.
function Context:with_run_layer(fn)
  local run_cli = require "smartlead.run_cli"
  local r, begun = run_cli.begin(run_options(self))
  if not r then return begun end
  self.run = r
  if self.client_ and r.session then self.client_:set_session(r.session) end
  local ok, code = pcall(fn)
  if not ok then
    r:finish(false)
    error(code, 0)
  end
  local rc = r:finish(code ~= M.EXIT.error)
  if code == M.EXIT.error then return rc ~= 0 and rc or M.EXIT.error end
  if rc ~= M.EXIT.ok then return rc end
  return code
end

return M
