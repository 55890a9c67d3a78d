-- smartlead.fleet.store: the fleet history's SQLite file. Opening checks what the file is before
-- touching it (ours, empty, foreign, corrupt, newer than us), then brings its schema up to date with
-- the ordered migrations below, in one write transaction.
--
-- The file: $XDG_DATA_HOME/smartlua/fleet.db (default ~/.local/share/smartlua/fleet.db), mode 0600
-- in a 0700 directory, WAL journal (readers never wait for the writer), a busy timeout (two runs at
-- once queue for the write lock instead of failing), application_id and user_version in the header
-- (a file that is not ours is refused, unchanged).
--
-- Every history row carries its workspace (workspaces.id): one file holds the history of every
-- SmartLead workspace an agency runs, each kept apart and seen together.
local core = require "smartlead.core"
local sqlite = core.sqlite

local M = {}

M.APPLICATION_ID = 0x534c4654 -- "SLFT" in the file header: this file is a smartlua fleet history
M.BUSY_TIMEOUT = 5000         -- ms a run waits for another's write lock before saying "locked"

-- The schema, one step per version; a file at version N gets steps N+1.. in order, in one
-- transaction. Steps are never edited once released: a change is a new step.
M.MIGRATIONS = {
  { version = 1, name = "workspaces, snapshots, account and campaign days", sql = [[
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE workspaces (
      id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
      base_url TEXT, fingerprint TEXT, created_at INTEGER NOT NULL);
    CREATE TABLE snapshots (
      id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
      day INTEGER NOT NULL, taken_at INTEGER NOT NULL,
      accounts INTEGER, campaigns INTEGER, requests INTEGER,
      complete INTEGER NOT NULL DEFAULT 0,
      UNIQUE (workspace_id, day));
    CREATE TABLE account_days (
      workspace_id INTEGER NOT NULL, account_id INTEGER NOT NULL, day INTEGER NOT NULL,
      email TEXT, type TEXT, message_per_day INTEGER, daily_sent INTEGER, reputation REAL,
      warmup_status TEXT, warmup_blocked INTEGER, total_sent INTEGER, total_spam INTEGER,
      smtp_ok INTEGER, imap_ok INTEGER, suspended INTEGER,
      campaign_ids TEXT, campaign_count INTEGER, tags TEXT, client_id INTEGER,
      PRIMARY KEY (workspace_id, account_id, day)) WITHOUT ROWID;
    CREATE INDEX account_days_by_day ON account_days (workspace_id, day, account_id);
    CREATE TABLE campaign_days (
      workspace_id INTEGER NOT NULL, campaign_id INTEGER NOT NULL, day INTEGER NOT NULL,
      name TEXT, status TEXT, accounts INTEGER, capacity INTEGER,
      PRIMARY KEY (workspace_id, campaign_id, day)) WITHOUT ROWID;
  ]] },
  { version = 2, name = "fleet totals per day, mailbox statistics", sql = [[
    CREATE TABLE fleet_days (
      workspace_id INTEGER NOT NULL, day INTEGER NOT NULL,
      accounts INTEGER, connected INTEGER, disconnected INTEGER, blocked INTEGER, warming INTEGER,
      in_campaigns INTEGER, reputation_avg REAL, reputation_min REAL,
      capacity INTEGER, sent INTEGER, spam_total INTEGER, warmup_sent_total INTEGER, spam INTEGER,
      PRIMARY KEY (workspace_id, day)) WITHOUT ROWID;
    ALTER TABLE account_days ADD COLUMN stats_sent INTEGER;
    ALTER TABLE account_days ADD COLUMN stats_replies INTEGER;
    ALTER TABLE account_days ADD COLUMN stats_bounces INTEGER;
    INSERT INTO fleet_days
      SELECT workspace_id, day, count(*),
        sum(smtp_ok AND imap_ok), sum(NOT (smtp_ok AND imap_ok)), sum(coalesce(warmup_blocked, 0)),
        sum(warmup_status = 'ACTIVE'), sum(campaign_count > 0), avg(reputation), min(reputation),
        sum(message_per_day), sum(daily_sent), sum(total_spam), sum(total_sent), NULL
      FROM account_days GROUP BY workspace_id, day;
    UPDATE fleet_days SET spam = (SELECT sum(b.total_spam - a.total_spam) FROM account_days b
      JOIN account_days a ON a.workspace_id = b.workspace_id AND a.account_id = b.account_id AND a.day = b.day - 1
      WHERE b.workspace_id = fleet_days.workspace_id AND b.day = fleet_days.day);
  ]] },
}

local Store = {}
Store.__index = Store

-- A store error: {kind=, message=, path=}; kind is "locked", "corrupt", "foreign", "newer",
-- "sqlite" or "store"; prints as its message.
local Error = { __tostring = function(e) return e.message end }
local function fail(path, kind, message)
  return nil, setmetatable({ kind = kind, path = path, message = message }, Error)
end
M.Error = Error

local EXPLAIN = {
  BUSY = "is locked by another run (still busy after waiting %d ms); try again when it ends",
  LOCKED = "is locked by another run (still busy after waiting %d ms); try again when it ends",
  NOTADB = "is not an SQLite database (corrupt, or some other kind of file); nothing was changed",
  CORRUPT = "is corrupt (%s); nothing more was changed. Move it aside and start a new history, or "
    .. "recover what SQLite can with: sqlite3 FILE .recover",
  READONLY = "cannot be written (read-only file or directory)",
  CANTOPEN = "cannot be opened",
  SYMLINK = "is a symbolic link; refused",
  FULL = "cannot grow: the disk is full",
}

-- Turns a SQLite failure into a store error that says what it means for the user.
local function sql_fail(path, msg, code, busy)
  local how = EXPLAIN[code]
  local kind = (code == "BUSY" or code == "LOCKED") and "locked" or (code == "NOTADB" or code == "CORRUPT")
    and "corrupt" or "sqlite"
  local text = how and ("%s %s"):format(path, how:format(code == "CORRUPT" and msg or busy or M.BUSY_TIMEOUT))
    or ("%s: %s"):format(path, tostring(msg))
  local _, e = fail(path, kind, text)
  e.sqlite_code, e.sqlite_message = code, msg
  return nil, e
end
M.sql_fail = sql_fail

-- store.default_path() -> $XDG_DATA_HOME/smartlua/fleet.db | nil, err
function M.default_path()
  local base = os.getenv("XDG_DATA_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil, "neither XDG_DATA_HOME nor HOME is set" end
    base = home .. "/.local/share"
  end
  return base .. "/smartlua/fleet.db"
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Creates the directory (and parents) with mode 0700, as the journal does.
local function make_private_dir(dir) return core.os.mkdir_private(dir) end

-- One value of a one-row query, or nil, msg, code.
local function scalar(db, sql)
  local st, msg, code = db:prepare(sql)
  if not st then return nil, msg, code end
  local row, m2, c2 = st:step()
  st:finalize()
  if row == nil then return nil, m2, c2 end
  if not row then return false end
  local _, v = next(row)
  return v == nil and false or v
end
M.scalar = scalar

-- What the file holds, read without writing: "empty" | "ours" | "foreign", version, tables.
local function classify(db)
  local app, msg, code = scalar(db, "PRAGMA application_id")
  if app == nil then return nil, msg, code end
  local version = scalar(db, "PRAGMA user_version")
  local tables = {}
  local st = assert(db:prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"))
  for name in st:urows() do tables[#tables + 1] = name end
  st:finalize()
  if app == M.APPLICATION_ID then return "ours", version, tables end
  if app == 0 and version == 0 and #tables == 0 then return "empty", 0, tables end
  return "foreign", version, tables
end

-- Applies the steps above `from` up to `to`, inside the caller's transaction.
local function migrate(db, from, to, migrations)
  for _, step in ipairs(migrations) do
    if step.version > from and step.version <= to then
      local ok, msg, code = db:exec(step.sql)
      if not ok then return nil, ("migration %d (%s): %s"):format(step.version, step.name, msg), code end
    end
  end
  local ok, msg, code = db:exec(("PRAGMA application_id = %d; PRAGMA user_version = %d;"):format(M.APPLICATION_ID, to))
  if not ok then return nil, msg, code end
  local st = assert(db:prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"))
  st:exec("schema_version", tostring(to))
  st:exec("migrated_at", os.date("!%Y-%m-%dT%H:%M:%SZ"))
  st:exec("written_by", "smartlua " .. tostring(core.version))
  st:finalize()
  return true
end

-- Brings the file to the newest version in one IMMEDIATE transaction; another run migrating at the
-- same moment waits, then finds the work done.
local function upgrade(db, path, migrations, busy)
  local latest = migrations[#migrations].version
  local ok, msg, code = db:exec("BEGIN IMMEDIATE")
  if not ok then return sql_fail(path, msg, code, busy) end
  local kind, version, tables = classify(db)
  if not kind then
    db:exec("ROLLBACK")
    return sql_fail(path, version, tables, busy)
  end
  if kind == "foreign" then
    db:exec("ROLLBACK")
    return nil, "foreign", tables
  end
  if version < latest then
    ok, msg, code = migrate(db, version, latest, migrations)
    if not ok then
      db:exec("ROLLBACK")
      return sql_fail(path, msg, code, busy)
    end
  end
  ok, msg, code = db:exec("COMMIT")
  if not ok then
    db:exec("ROLLBACK")
    return sql_fail(path, msg, code, busy)
  end
  return true
end

local function foreign(path, tables)
  return fail(path, "foreign", ("%s is not a smartlua fleet history (it holds tables: %s); nothing was changed. "
    .. "Give another path, or move the file aside."):format(path, #tables > 0 and table.concat(tables, ", ")
    or "none, but its header says another application"))
end

-- store.open(path | nil, {readonly=false, must_exist=false, busy_timeout=5000, migrations=}) -> Store | nil, err
-- path nil: the default path. A missing file is created (not when readonly or must_exist). err.kind: "locked",
-- "corrupt", "foreign", "newer", "sqlite", "store"; err.message says what to do.
function M.open(path, opts)
  opts = opts or {}
  local err
  if path == nil then
    path, err = M.default_path()
    if not path then return fail("fleet.db", "store", err) end
  end
  local migrations = opts.migrations or M.MIGRATIONS
  local busy = opts.busy_timeout or M.BUSY_TIMEOUT
  local is_new = not exists(path)
  if is_new and (opts.readonly or opts.must_exist) then
    return fail(path, "store", path .. ": no fleet history there yet (take a snapshot first)")
  end
  if is_new then
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      local ok, derr = make_private_dir(dir)
      if not ok then return fail(path, "store", derr) end
    end
  end
  local db, msg, code = sqlite.open(path, { readonly = opts.readonly, create = is_new, busy_timeout = busy })
  if not db then return sql_fail(path, msg, code, busy) end
  local kind, version, tables = classify(db)
  if not kind then
    db:close()
    return sql_fail(path, version, tables, busy)
  end
  if kind == "foreign" then
    db:close()
    return foreign(path, tables)
  end
  local latest = migrations[#migrations].version
  if version > latest then
    db:close()
    return fail(path, "newer", ("%s was written by a newer smartlua (schema %d; this one knows up to %d); "
      .. "nothing was changed"):format(path, version, latest))
  end
  if opts.readonly then
    if version < latest then
      db:close()
      return fail(path, "store", ("%s has schema %d; open it once for writing to migrate it to %d")
        :format(path, version, latest))
    end
  else
    local ok, jmsg, jcode = db:exec("PRAGMA journal_mode = WAL")
    if not ok then
      db:close()
      return sql_fail(path, jmsg, jcode, busy)
    end
    local up, umsg, ucode = upgrade(db, path, migrations, busy)
    if not up then
      db:close()
      if umsg == "foreign" then return foreign(path, ucode) end
      return nil, umsg, ucode
    end
  end
  db:exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY")
  return setmetatable({ db = db, path = path, busy_timeout = busy, stmts = {}, readonly = opts.readonly == true,
    version = math.max(version, opts.readonly and version or latest) }, Store)
end

-- store:prepare(sql) -> cached statement (raises on a bad statement: that is our bug)
function Store:prepare(sql)
  local st = self.stmts[sql]
  if not st then
    local msg
    st, msg = self.db:prepare(sql)
    if not st then error("fleet store: " .. tostring(msg) .. "\n" .. sql, 2) end
    self.stmts[sql] = st
  end
  return st
end

-- store:run(sql | stmt, ...) -> changes; a failure raises a store error (for use inside store:write)
function Store:run(sql, ...)
  local st = type(sql) == "string" and self:prepare(sql) or sql
  local n, msg, code = st:exec(...)
  if not n then
    local _, e = sql_fail(self.path, msg, code, self.busy_timeout)
    error(e, 0)
  end
  return n
end

-- store:rows(sql, ...) -> iterator of named rows
function Store:rows(sql, ...) return self:prepare(sql):nrows(...) end

-- store:value(sql, ...) -> the first column of the first row, or nil
function Store:value(sql, ...)
  local st = self:prepare(sql)
  local v = st:urows(...)() -- nil when there is no row (or the value is NULL)
  st:reset()
  return v
end

-- store:write(fn) -> fn's results | nil, err: fn runs inside BEGIN IMMEDIATE .. COMMIT, and any
-- error (raised or returned as nil, err) rolls everything back.
function Store:write(fn)
  local ok, msg, code = self.db:exec("BEGIN IMMEDIATE")
  if not ok then return sql_fail(self.path, msg, code, self.busy_timeout) end
  local res = table.pack(pcall(fn, self))
  if not res[1] or res[2] == nil then
    self.db:exec("ROLLBACK")
    local e = res[1] and res[3] or res[2]
    if type(e) == "table" then return nil, e end
    return fail(self.path, "store", tostring(e))
  end
  ok, msg, code = self.db:exec("COMMIT")
  if not ok then
    self.db:exec("ROLLBACK")
    return sql_fail(self.path, msg, code, self.busy_timeout)
  end
  return table.unpack(res, 2, res.n)
end

-- store:workspace_id(name, {base_url=, fingerprint=}) -> id (creates the row; inside a write)
function Store:workspace_id(name, info)
  local id = self:value("SELECT id FROM workspaces WHERE name = ?", name)
  if id then return id end
  if self.readonly then return nil end
  info = info or {}
  self:run("INSERT INTO workspaces (name, base_url, fingerprint, created_at) VALUES (?, ?, ?, ?)",
    name, info.base_url, info.fingerprint, os.time())
  return self.db:last_insert_rowid()
end

-- store:workspaces() -> {{id=, name=, base_url=, fingerprint=}, ...} by name
function Store:workspaces()
  local out = {}
  for r in self:rows("SELECT id, name, base_url, fingerprint FROM workspaces ORDER BY name") do out[#out + 1] = r end
  return out
end

-- store:check() -> true | nil, err   (PRAGMA quick_check)
function Store:check()
  local v, msg, code = scalar(self.db, "PRAGMA quick_check")
  if v == nil then return sql_fail(self.path, msg, code, self.busy_timeout) end
  if v ~= "ok" then return fail(self.path, "corrupt", ("%s is corrupt: %s"):format(self.path, v)) end
  return true
end

-- store:close() -- idempotent
function Store:close()
  for _, st in pairs(self.stmts) do st:finalize() end
  self.stmts = {}
  if self.db then self.db:close() end
end
Store.__close = Store.close
Store.__gc = Store.close

-- store.is(v) -> v is an open Store
function M.is(v) return getmetatable(v) == Store end

-- store.use(db_or_path, opts) -> store, owned: a Store given is used as is; a path (or nil, the
-- default) is opened and the caller closes it (owned = true).
function M.use(db, opts)
  if M.is(db) then return db, false end
  if db ~= nil and type(db) ~= "string" then error("fleet: db must be a path or an opened store", 3) end
  local s, err = M.open(db, opts)
  if not s then return nil, err end
  return s, true
end

return M
