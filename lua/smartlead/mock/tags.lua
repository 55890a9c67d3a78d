-- smartlead.mock.tags: account tags (create, update) and their mapping to accounts (assign,
-- remove, list by address). Tags live in the registry (state.tags); an account keeps tag ids.
local json = require "smartlead.json"
local answers = require "smartlead.mock.answers"
local schemas = require "smartlead.mock.schemas"

local reply = answers.reply

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local DEFAULT_COLOR = "#607D8B"
local MAPPING_LIMIT = 25 -- accounts one tag-mapping request may name (documented)

local function tag_answer(t) return reply(200, { ok = true, data = { id = t.id, name = t.name, color = t.color } }) end

-- POST /tags {name, color?}
function S:create_tag(ctx)
  local err = schemas.check_tag_body(ctx.body, false)
  if err then return err end
  local t = { id = self.next_tag_id, name = ctx.body.name, color = ctx.body.color or DEFAULT_COLOR,
    user_id = ctx.user_id }
  self.tags[t.id], self.next_tag_id = t, t.id + 1
  return tag_answer(t)
end

-- POST /email-accounts/tag-manager {id, name, color}: an existing tag, renamed or recolored.
function S:update_tag(ctx)
  local err = schemas.check_tag_body(ctx.body, true)
  if err then return err end
  local t = self:own_tag(ctx.user_id, math.tointeger(ctx.body.id))
  if not t then return reply(400, { ok = false, message = "Tag not found" }) end
  t.name, t.color = ctx.body.name, ctx.body.color
  return tag_answer(t)
end

-- The body's accounts and tags, all the caller's: ids, tag_ids or nil, nil, an error answer.
function S:tag_mapping_body(ctx)
  for k in pairs(ctx.body) do
    if k ~= "email_account_ids" and k ~= "tag_ids" then
      return nil, nil, answers.validation_error("payload", tostring(k), "is not allowed")
    end
  end
  local ids, err = schemas.id_list(ctx.body, "email_account_ids", MAPPING_LIMIT)
  if not ids then return nil, nil, err end
  local tag_ids, terr = schemas.id_list(ctx.body, "tag_ids")
  if not tag_ids then return nil, nil, terr end
  local foreign = self:first_foreign(ctx.user_id, ids)
  if foreign then return nil, nil, answers.permission_error(foreign) end
  for _, tid in ipairs(tag_ids) do
    if not self:own_tag(ctx.user_id, tid) then
      return nil, nil, reply(400, { ok = false, message = ("Tag id - %d not found"):format(tid) })
    end
  end
  return ids, tag_ids
end

local function has(list, x)
  for i, v in ipairs(list) do
    if v == x then return i end
  end
end

-- POST /email-accounts/tag-mapping: every tag onto every account (a tag it has stays once).
function S:assign_tags(ctx)
  local ids, tag_ids, err = self:tag_mapping_body(ctx)
  if err then return err end
  for _, id in ipairs(ids) do
    local acc = self.accounts[id]
    for _, tid in ipairs(tag_ids) do
      if not has(acc.tag_ids, tid) then acc.tag_ids[#acc.tag_ids + 1] = tid end
    end
  end
  return reply(200, { ok = true, message = "Tags assigned successfully" })
end

-- DELETE /email-accounts/tag-mapping: the tags off the accounts; the tags themselves stay.
function S:remove_tags(ctx)
  local ids, tag_ids, err = self:tag_mapping_body(ctx)
  if err then return err end
  for _, id in ipairs(ids) do
    local acc = self.accounts[id]
    for _, tid in ipairs(tag_ids) do
      local i = has(acc.tag_ids, tid)
      if i then table.remove(acc.tag_ids, i) end
    end
  end
  return reply(200, { ok = true, message = "Tags removed successfully" })
end

-- POST /email-accounts/tag-list {email_ids}: the caller's accounts among the addresses, with
-- their tags; addresses it does not hold are left out.
function S:tag_list(ctx)
  for k in pairs(ctx.body) do
    if k ~= "email_ids" then return answers.validation_error("payload", tostring(k), "is not allowed") end
  end
  local emails = ctx.body.email_ids
  if emails == nil then return answers.validation_error("payload", "email_ids", "is required") end
  if not json.is_array(emails) or #emails == 0 then
    return answers.validation_error("payload", "email_ids", "must contain at least 1 items")
  end
  local out = json.array({})
  for i, e in ipairs(emails) do
    if type(e) ~= "string" then
      return answers.validation_error("payload", ("email_ids[%d]"):format(i - 1), "must be a string")
    end
    local id = self.emails[e:lower()]
    local acc = id and self:own_account(ctx.user_id, id)
    if acc then
      out[#out + 1] = { email_account_id = acc.id, from_email = acc.from_email, tags = self:present_tags(acc) }
    end
  end
  return reply(200, { ok = true, data = out })
end

return M
