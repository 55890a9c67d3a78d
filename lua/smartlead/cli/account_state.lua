-- `smartlua accounts delete|suspend|unsuspend ID...`: one write per account, through the run
-- layer (planned with --plan, journaled, undone by `smartlua undo`). A delete cannot be undone:
-- the run layer asks on a terminal and needs --yes without one.
local context = require "smartlead.cli.context"
local convert = require "smartlead.convert"
local options = require "smartlead.cli.options"

local EXIT = context.EXIT
local scope = options.scope

-- Runs op on every id; prints {email_account_id, status, message} for each done.
local function each_account(op, done)
  return function(ctx)
    return ctx:with_run_layer(function()
      local client = ctx:client()
      local w = ctx:result_writer { "email_account_id", "status", "message" }
      local failed, refused, planned = 0, 0, false
      for _, id in ipairs(ctx.args) do
        local answer, err = client[op](client, id)
        if not answer then
          failed = failed + 1
          if type(err) == "table" and err.code == "NOT_CONFIRMED" then refused = refused + 1 end
          context.err_line(("%d: %s"):format(id, tostring(err)))
        elseif context.planned(answer) then
          planned = true
        else
          w:add { email_account_id = id, status = done, message = answer.message }
        end
      end
      w:close()
      if planned then return EXIT.ok end
      if refused == #ctx.args then return EXIT.refused end -- a delete nobody confirmed: nothing was sent
      if failed == #ctx.args then return EXIT.error end
      return failed > 0 and EXIT.partial or EXIT.ok
    end)
  end
end

local IDS = { name = "ID...", many = true, convert = convert.TYPES.id, what = "account id" }
local WRITE = scope("client", "output", "write")

return {
  delete = { summary = "delete accounts (out of every campaign; cannot be undone: asks, or --yes)",
    run = each_account("delete_email_account", "deleted"), args = { IDS }, globals = WRITE,
    help = "A deleted account leaves every campaign and its leads stop; adding the address again makes a new\n"
      .. "account. On a terminal the plan is shown and confirmed first; without one, --yes is needed.\n" },
  suspend = { summary = "stop accounts sending (campaigns and warmup); they stay in their campaigns",
    run = each_account("suspend_email_account", "suspended"), args = { IDS }, globals = WRITE,
    help = "`smartlua undo JOURNAL` unsuspends them again, except those that were suspended before.\n" },
  unsuspend = { summary = "let suspended accounts send again",
    run = each_account("unsuspend_email_account", "unsuspended"), args = { IDS }, globals = WRITE },
}
