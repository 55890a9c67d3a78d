-- The REPL as a person uses it: build/smartlua --mock in a tmux pane, keys sent, screen read.
local proc = require "proc"
local tmux = require "tmux"

local KEY = "sk-REPL-SPEC-7f3a9c1e5b2d"

describe("the REPL in a terminal", function()
  local dir, pane

  local function start(extra)
    pane = tmux.start(("env -u SMARTLEAD_BASE_URL SMARTLEAD_API_KEY=%s XDG_STATE_HOME=%s NO_COLOR=1 %s --mock %s"):format(
      KEY, proc.q(dir .. "/state"), proc.q(proc.BIN), extra or ""))
    pane:wait_for("client ready as `sl`", 15, true)
    pane:wait_for("\n> ", 5, true)
  end

  -- Types a line and waits for the prompt that follows its answer.
  local function eval(line, expect, seconds)
    local before = pane:count("\n> ")
    pane:line(line)
    local deadline = os.time() + (seconds or 10)
    while pane:count("\n> ") <= before and os.time() <= deadline do proc.nap(0.05) end
    return expect and pane:wait_for(expect, 2, true)
  end

  before_each(function() dir = proc.mktemp() end)
  after_each(function()
    if pane then pane:kill() end
    pane = nil
    proc.rmtree(dir)
  end)

  it("prints expressions without return, continues incomplete input, and leaves on Ctrl-D", function()
    start()
    eval("1 + 41", "\n42\n")
    pane:line("function twice(x)")
    pane:wait_for("\n>> ", 5, true)
    pane:line("  return x * 2")
    pane:line("end")
    eval("twice(21)", "\n42\n")
    eval('sl:get_email_account(3001).from_email', '"olivia.hall@hypergrowth.dev"')
    eval("smartlead.null", "\nnull\n")
    pane:key("C-d")
    assert.equal(0, pane:wait_exit(10))
  end)

  it("completes methods of the client and fields of tables reachable from a name", function()
    start()
    pane:send("sl:get_e")
    pane:key("Tab")
    pane:wait_for("> sl:get_email_account", 5, true)
    pane:key("C-u") -- clear the line
    eval("acct = sl:get_email_account(3001)")
    pane:send("acct.warmup_details.warmup_r")
    pane:key("Tab")
    pane:wait_for("> acct.warmup_details.warmup_reputation", 5, true)
    pane:key("Enter")
    pane:wait_for('\n99\n', 5, true) -- the single read gives the reputation as a number
    pane:send("smartlead.rep")
    pane:key("Tab")
    pane:wait_for("> smartlead.reputation", 5, true)
  end)

  it("shows an array of accounts as an aligned table and masks passwords in nested tables", function()
    start()
    local screen = eval('sl:get_email_accounts{ esp = "GMAIL", limit = 3 }', "accounts)")
    local header = screen:match("\n(%s*id%s+from_email[^\n]*)\n")
    assert.is_truthy(header, screen)
    assert.is_truthy(screen:find("\n%-%-+  %-%-+"), "a rule under the header")
    screen = eval("sl:get_email_account(3001)", "warmup_details")
    assert.is_falsy(screen:find("FAKEPW-3001-tundra", 1, true), "the SMTP password is shown")
    assert.is_truthy(screen:find("password = \"********\"", 1, true), screen)
  end)

  it("prints one line for an error and the traceback on :trace", function()
    start()
    local screen = eval("sl:get_email_account(999999)", "(:trace for the details)")
    assert.is_truthy(screen:find("\nerror: http 404 NOT_FOUND error: Email account not found (GET /email-accounts/999999/)", 1, true), screen)
    assert.is_falsy(screen:find("attempts =", 1, true), "the error's fields are dumped")
    eval(":trace", "attempts = 1")
    screen = eval('error("boom")', "(:trace for the traceback)")
    assert.is_truthy(screen:find("\nstdin:1: boom", 1, true), screen)
    assert.is_falsy(screen:find("stack traceback", 1, true))
    eval(":trace", "stack traceback")
  end)

  it("offers :help and :help NAME from the endpoint table", function()
    start()
    eval(":help", "Endpoint methods")
    eval(":help update_email_account", "POST /email-accounts/{id}")
    pane:wait_for("example: sl:update_email_account(3001", 2, true)
    eval(":help no_such_thing", "no help for 'no_such_thing'")
  end)

  it("cancels a slow call on Ctrl-C and stays usable", function()
    start()
    eval("smartlead.mock:configure{ latency_ms = 20000 }")
    pane:line("t0 = require('smartlead.core').monotime(); sl:get_email_account(3001)")
    proc.nap(0.5)
    pane:key("C-c")
    pane:wait_for("cancel", 5)
    eval("smartlead.mock:configure{ latency_ms = 0 }")
    eval("require('smartlead.core').monotime() - t0 < 10", "\ntrue\n")
    eval('sl:get_email_account(3002).id', "\n3002\n")
  end)

  it("stops a runaway Lua loop on Ctrl-C", function()
    start()
    pane:line("while true do end")
    proc.nap(0.5)
    pane:key("C-c")
    pane:wait_for("interrupted by Ctrl-C", 5, true)
    eval("2 + 2", "\n4\n")
  end)

  it("drops the line being typed on Ctrl-C at the prompt", function()
    start()
    pane:send("this is not lua")
    pane:key("C-c")
    pane:wait_for("^C", 5, true)
    eval("3 + 3", "\n6\n")
    assert.is_nil(pane:exit_status())
  end)

  it("keeps history across sessions in a 0600 file, with the API key masked", function()
    start()
    eval(('k = "%s"'):format(KEY))
    eval("k", "\n\"")
    assert.equal(1, pane:count(KEY), "the key was printed back (only the typed line may show it)")
    eval("answer_for_history = 6 * 7")
    pane:key("C-d")
    pane:wait_exit(10)
    pane:kill()
    local path = dir .. "/state/smartlua/history"
    local text = assert(proc.read(path), "no history file")
    assert.is_falsy(text:find(KEY, 1, true), "the key reached the history file")
    assert.is_truthy(text:find("answer_for_history", 1, true))
    assert.equal("600", proc.sh("stat -c %a " .. proc.q(path)).out:match("%d+"))
    assert.equal("700", proc.sh("stat -c %a " .. proc.q(dir .. "/state/smartlua")).out:match("%d+"))
    -- the next session recalls it with the up arrow
    start()
    pane:key("Up")
    pane:wait_for("> answer_for_history = 6 * 7", 5, true)
  end)
end)
