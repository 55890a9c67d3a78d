-- Paging through GET /email-accounts/ (offset/limit, bare arrays, no total): an iterator
-- over every account, deduplicated by id, stopping at the first short page.
local M = {}

local PAGE = 100 -- the API's maximum

local function copy_filters(filters)
  local q = {}
  for k, v in pairs(filters or {}) do
    if k == "offset" or k == "limit" then
      error("accounts(): paging is automatic; do not pass " .. k, 3)
    end
    q[k] = v
  end
  return q
end

-- client:accounts(filters) -> iterator of accounts; a failing page raises its error.
local function accounts(client, filters)
  local query = copy_filters(filters)
  local page, i, offset, done, seen = {}, 0, 0, false, {}
  return function()
    while true do
      i = i + 1
      local a = page[i]
      if a ~= nil then
        if not seen[a.id] then
          seen[a.id] = true
          return a
        end
      elseif done then
        return nil
      else
        query.offset, query.limit = offset, PAGE
        local got, err = client:get_email_accounts(query)
        if not got then error(err, 2) end
        page, i, offset = got, 0, offset + PAGE
        done = #got < PAGE
      end
    end
  end
end

-- client:all_accounts(filters) -> array | nil, err
local function all_accounts(client, filters)
  local list = {}
  local ok, err = pcall(function()
    for a in accounts(client, filters) do list[#list + 1] = a end
  end)
  if not ok then return nil, err end
  return list
end

function M.install(methods)
  methods.accounts = accounts
  methods.all_accounts = all_accounts
end

return M
