-- luacheck: max line length 300
-- The public API that the operation registry cannot describe, as data: answer shapes, the Error,
-- the change lists policies return, and every public Lua function with its parameters and
-- results. tools/gen_annotations.lua turns it (with the registry) into LuaCATS annotations for
-- the editor; tools/gen_reference.lua into doc/reference.md. One source, so the two agree.
--
-- A type is written as LuaCATS writes it (`integer`, `string|smartlead.Null`, `smartlead.Account[]`).
-- A field or parameter whose name ends in `?` may be absent.

local M = {}

-- classes: name, doc, fields = {{name, type, doc}}
M.shapes = {
  { name = "smartlead.Null", doc = "JSON null (`smartlead.null`): distinct from an absent key; test it with `smartlead.is_null(v)`.",
    fields = {} },

  { name = "smartlead.Account", doc = "An email account as the API answers it (list, get, campaign members). Answer names "
      .. "differ from request names: `message_per_day` is set with `max_email_per_day`, `custom_tracking_domain` with "
      .. "`custom_tracking_url`, `bcc_email` with `bcc`, `minTimeToWaitInMins` with `time_to_wait_in_mins`.",
    fields = {
      { "id", "integer", "the account id" },
      { "created_at", "string", "ISO 8601 time" },
      { "updated_at", "string", "ISO 8601 time" },
      { "user_id", "integer", "the SmartLead user that owns it" },
      { "from_name", "string", "the sender name" },
      { "from_email", "string", "the sending address" },
      { "username", "string", "the SMTP login" },
      { "password", "string|smartlead.Null", "SMTP password as the API sends it (base64); never printed by smartlua" },
      { "smtp_host", "string", "" },
      { "smtp_port", "integer", "" },
      { "smtp_port_type", "string", "`TLS`, `SSL` or `NONE`" },
      { "message_per_day", "integer", "the daily sending limit (set with `max_email_per_day`)" },
      { "daily_sent_count", "integer", "emails sent today" },
      { "different_reply_to_address", "string", "reply-to address, `\"\"` when none" },
      { "is_different_imap_account", "boolean", "IMAP logs in with other credentials" },
      { "imap_username", "string", "" },
      { "imap_password", "string|smartlead.Null", "as `password`" },
      { "imap_host", "string", "" },
      { "imap_port", "integer", "" },
      { "imap_port_type", "string", "" },
      { "signature", "string|smartlead.Null", "HTML signature" },
      { "custom_tracking_domain", "string|smartlead.Null", "tracking domain (set with `custom_tracking_url`)" },
      { "bcc_email", "string|smartlead.Null", "BCC address (set with `bcc`)" },
      { "is_smtp_success", "boolean", "false when SMTP is disconnected" },
      { "is_imap_success", "boolean", "false when IMAP is disconnected" },
      { "smtp_failure_error", "string|smartlead.Null", "why SMTP failed" },
      { "imap_failure_error", "string|smartlead.Null", "why IMAP failed" },
      { "type", "string", "`GMAIL`, `OUTLOOK`, `SMTP` (others may appear)" },
      { "client_id", "integer|smartlead.Null", "the agency client it belongs to" },
      { "expires_at", "string|smartlead.Null", "" },
      { "minTimeToWaitInMins", "integer", "minutes between two emails (set with `time_to_wait_in_mins`)" },
      { "campaign_count", "integer", "campaigns it is attached to" },
      { "is_connected_to_campaign", "boolean", "`campaign_count > 0`" },
      { "tags", "smartlead.Tag[]", "its tags" },
      { "warmup_details", "smartlead.WarmupDetails|smartlead.Null", "null when warmup never started" },
      { "campaign_ids?", "integer[]", "with `fetch_campaigns = true`: the campaigns it is attached to" },
      { "is_suspended?", "boolean", "in single-account answers (`get_email_account`) only" },
    } },

  { name = "smartlead.WarmupDetails", doc = "An account's warmup (`account.warmup_details`).",
    fields = {
      { "status", "string", "`ACTIVE`, `INACTIVE` or `BLOCKED`" },
      { "total_sent_count", "integer", "" },
      { "total_spam_count", "integer", "" },
      { "warmup_reputation", "string|number|smartlead.Null", "`\"97%\"` as the API sends it; `smartlead.reputation(a)` gives 97" },
      { "warmup_key_id", "string", "" },
      { "warmup_created_at", "string", "" },
      { "reply_rate", "integer", "percent" },
      { "blocked_reason", "string|smartlead.Null", "why warmup is blocked; null when it is not" },
      { "warmup_min_count", "integer", "" },
      { "warmup_max_count", "integer", "" },
      { "max_email_per_day", "integer", "warmup emails a day" },
    } },

  { name = "smartlead.Tag", doc = "A tag of an account.",
    fields = { { "id", "integer", "" }, { "name", "string", "" }, { "color", "string", "e.g. `#ff0000`" } } },

  { name = "smartlead.WarmupStats", doc = "The answer of `get_warmup_stats`: the last 7 days, counts as integers.",
    fields = {
      { "id", "integer", "the account id" },
      { "sent_count", "integer", "" },
      { "spam_count", "integer", "" },
      { "inbox_count", "integer", "" },
      { "warmup_email_received_count", "integer", "" },
      { "stats_by_date", "smartlead.WarmupDay[]", "one entry per day" },
    } },

  { name = "smartlead.WarmupDay", doc = "One day of `WarmupStats.stats_by_date`.",
    fields = {
      { "id", "integer", "" },
      { "date", "string", "`YYYY-MM-DD`" },
      { "sent_count", "integer", "" },
      { "reply_count", "integer", "" },
      { "save_from_spam_count", "integer", "" },
      { "spam_count?", "integer", "" },
    } },

  { name = "smartlead.SaveResult", doc = "The answer of a save or an account update.",
    fields = {
      { "ok", "boolean", "" },
      { "message", "string", "" },
      { "email_account_id", "integer", "the account saved or updated" },
      { "recovered?", "string", "a save whose answer was lost and that was found again: `by address` or `by ACCOUNT_ALREADY_EXIST`" },
    } },

  { name = "smartlead.Result", doc = "The answer of attach, detach, warmup and reconnect.",
    fields = {
      { "ok", "boolean", "" },
      { "message?", "string", "" },
      { "result?", "any", "attach: `{{id, email_campaign_id, email_account_id, updated_at}, ...}`; detach: the number removed" },
    } },

  { name = "smartlead.OAuthToken", doc = "The `token` of `add_oauth_account`.",
    fields = {
      { "access_token", "string", "" },
      { "refresh_token", "string", "" },
      { "expiry_date", "integer", "milliseconds since the epoch" },
      { "token_type?", "string", "" },
      { "scope?", "string", "" },
      { "id_token?", "string", "" },
    } },

  { name = "smartlead.Error", doc = "What a call returns as its second value when it fails at run time (`nil, err`). "
      .. "`tostring(err)` is one line with the key masked.",
    fields = {
      { "kind", "smartlead.ErrorKind", "what went wrong" },
      { "status?", "integer", "HTTP status" },
      { "code", "string", "the server's code (`ACCOUNT_NOT_FOUND`, `RATE_LIMIT_EXCEEDED`, ...), else one from the status "
        .. "(`NOT_FOUND`, `UNAUTHORIZED`, `SERVER_ERROR`, ...) or the transport (`TIMEOUT`, `COULDNT_CONNECT`, ...), or "
        .. "`INVALID_ARGUMENT` for validation" },
      { "message", "string", "the server's message, or ours" },
      { "method?", "string", "the request's HTTP method" },
      { "path?", "string", "the request's path and query, key masked" },
      { "body?", "string", "the answer's text (first 4 KiB, key masked)" },
      { "data?", "any", "the answer decoded" },
      { "retry_after?", "number", "seconds, from `Retry-After` or the 429 body" },
      { "field?", "string", "the offending field, for validation errors" },
      { "ambiguous?", "boolean", "a write that may have reached the server before it failed" },
      { "attempts?", "integer", "how many attempts were made" },
      { "email_account_id?", "integer", "the existing account, for `ACCOUNT_ALREADY_EXIST`" },
      { "report?", "smartlead.EachReport", "for `cancelled`: what `each` had done" },
    } },

  { name = "smartlead.Operation", doc = "One row of the operation registry (`smartlead.operations()`): one Client endpoint method.",
    fields = {
      { "name", "string", "the Client method" },
      { "method", "string", "HTTP method" },
      { "path", "string", "below the base URL; `{id}` is the leading id argument" },
      { "kind", "\"read\"|\"set\"|\"create\"|\"relation\"|\"delete\"|\"action\"", "how a run plans, journals, retries and undoes it" },
      { "inverse?", "string", "relation: the row that undoes it" },
      { "removes", "boolean", "relation: this side removes (detach)" },
      { "id_name?", "string", "the leading id argument's name" },
      { "target?", "string", "what the id names: `account`, `campaign`, or `id_name`" },
      { "arg", "\"none\"|\"fields\"|\"ids\"|\"email\"", "what the argument after the id is" },
      { "dest", "\"query\"|\"body\"", "where it goes" },
      { "fields", "smartlead.OperationField[]", "for arg `fields`" },
      { "answer", "\"list\"|\"account\"|\"object\"|\"save\"|\"warmup_stats\"|\"json\"", "the answer's shape" },
      { "payload_required", "boolean", "the argument may not be nil" },
      { "args", "string", "the arguments, for help" },
      { "summary", "string", "one line" },
      { "call", "fun(client: smartlead.Client, ...): any, smartlead.Error|nil", "sends past any run session" },
      { "validate", "fun(client: smartlead.Client, ...): true|nil, smartlead.Error|nil", "every check, nothing sent" },
    } },

  { name = "smartlead.OperationField", doc = "A field an operation takes.",
    fields = {
      { "name", "string", "as the API spells it" },
      { "type", "string", "`text`, `name`, `secret`, `host`, `email`, `uint`, `limit`, `port`, `percent`, `bool`, `enum`, `id`, `id_or_null`, `token`" },
      { "required", "boolean", "" },
      { "enum?", "string[]", "the values of an `enum`" },
      { "alias?", "string", "another name accepted (snake_case of the API's camelCase)" },
    } },

  { name = "smartlead.OperationSpec", doc = "What `smartlead.define_operation` takes.",
    fields = {
      { "name", "string", "the new Client method, lower_case" },
      { "method", "string", "HTTP method" },
      { "path", "string", "below the base URL, `{id}` for the leading id" },
      { "kind", "\"read\"|\"set\"|\"create\"|\"relation\"|\"delete\"|\"action\"", "" },
      { "id_name?", "string", "needed with `{id}` in the path" },
      { "inverse?", "string", "relation: the row that undoes it" },
      { "arg?", "\"none\"|\"fields\"|\"ids\"|\"email\"", "default `fields` when fields are given" },
      { "fields?", "smartlead.OperationField[]", "" },
      { "answer?", "string", "default `json`" },
      { "summary?", "string", "" },
    } },

  { name = "smartlead.ClientOptions", doc = "Options of `smartlead.client{...}`; each left out comes from the "
      .. "environment, the config file's profile, or the default.",
    fields = {
      { "api_key?", "string", "else `SMARTLEAD_API_KEY`, else the config file" },
      { "base_url?", "string", "default `https://server.smartlead.ai/api/v1`" },
      { "timeout?", "number", "seconds for one request (60)" },
      { "connect_timeout?", "number", "seconds (10)" },
      { "concurrency?", "integer", "requests in flight at once (8)" },
      { "rate?", "{requests: integer, per: number}|false", "client-side pace (10 per 2 s); false turns it off" },
      { "max_retries?", "integer", "retries of what is safe to repeat (5)" },
      { "max_wait?", "number", "seconds of waiting one call may spend (600)" },
      { "profile?", "string", "the config file's section" },
      { "insecure_skip_tls_verify?", "boolean", "turns TLS verification off (prints a warning)" },
    } },

  { name = "smartlead.Campaign", doc = "A campaign as policies take it. `status` nil means unknown, which policies "
      .. "treat as active (an active campaign is never emptied).",
    fields = {
      { "id", "integer", "the campaign id" },
      { "status?", "string", "`ACTIVE`, `PAUSED`, `COMPLETED`, ... (COMPLETED campaigns get no accounts)" },
      { "account_ids", "integer[]", "the accounts attached to it" },
    } },

  { name = "smartlead.Change", doc = "One step of a change list (a plan op): what policies return and "
      .. "`policy.apply`, `policy.describe` and `policy.run` take.",
    fields = {
      { "op", "\"update\"|\"attach\"|\"detach\"", "what to do" },
      { "id?", "integer", "update: the account" },
      { "fields?", "table<string, any>", "update: the new values, request names (`{max_email_per_day = 40}`)" },
      { "before?", "table<string, any>", "update: the values before" },
      { "campaign?", "integer", "attach/detach: the campaign" },
      { "ids?", "integer[]", "attach/detach: the accounts" },
      { "reason?", "string", "why, one line" },
      { "why?", "table<integer, string>", "detach: account id -> its reasons" },
    } },

  { name = "smartlead.Health", doc = "What `policy.health` says of one account.",
    fields = {
      { "healthy", "boolean", "`status == \"healthy\"`" },
      { "status", "\"healthy\"|\"warning\"|\"sick\"", "warning: only over today's limit" },
      { "reasons", "smartlead.Reason[]", "in a fixed order" },
      { "reputation?", "number", "warmup reputation, nil when warmup never started" },
    } },

  { name = "smartlead.Reason", doc = "One reason of a `Health`.",
    fields = {
      { "code", "string", "`smtp_disconnected`, `imap_disconnected`, `suspended`, `warmup_blocked`, "
        .. "`low_reputation`, `over_daily_limit`" },
      { "text", "string", "for people" },
      { "severity", "\"sick\"|\"warning\"", "" },
    } },

  { name = "smartlead.HealthParams", doc = "Parameters of `policy.health` and `policy.pause`.",
    fields = { { "min_reputation?", "number", "0..100, default 90: under it an account is sick" } } },

  { name = "smartlead.RampParams", doc = "Parameters of `policy.ramp` (defaults in brackets).",
    fields = {
      { "step?", "integer", "raise by this much (5)" },
      { "good?", "number", "raise healthy accounts at or above this reputation (95)" },
      { "ceiling?", "integer", "never raise past this limit (100)" },
      { "bad?", "number", "cut accounts under this reputation (85)" },
      { "cut?", "number", "multiply the limit by this when cutting, 0..1 (0.5)" },
      { "floor?", "integer", "never cut under this limit (10)" },
      { "min_reputation?", "number", "passed to `policy.health` (90)" },
    } },

  { name = "smartlead.RotateParams", doc = "Parameters of `policy.rotate` (defaults in brackets).",
    fields = {
      { "per_account_campaigns?", "integer", "campaigns one account may be in (1)" },
      { "max_per_campaign?", "integer", "accounts one campaign may hold (2500)" },
      { "min_reputation?", "number", "passed to `policy.health` (90)" },
    } },

  { name = "smartlead.ApplyOptions", doc = "Options of `policy.apply`.",
    fields = {
      { "concurrency?", "integer", "updates in flight (4)" },
      { "on_step?", "fun(change: smartlead.Change, result: table|nil, err: smartlead.Error|nil)", "called after each step" },
    } },

  { name = "smartlead.RunOptions", doc = "Options of `policy.run`.",
    fields = {
      { "notes?", "string[]", "printed after the changes (the second result of rotate and pause)" },
      { "dry_run?", "boolean", "print only, send nothing" },
      { "concurrency?", "integer", "as for `policy.apply`" },
    } },

  { name = "smartlead.ApplyReport", doc = "What `policy.apply` returns.",
    fields = {
      { "ok", "integer", "steps that succeeded" },
      { "failed", "{change: smartlead.Change, error: smartlead.Error|string}[]", "steps that failed, with why" },
      { "total", "integer", "steps (an attach of 250 ids is 3 steps of at most 100)" },
    } },

  { name = "smartlead.EachReport", doc = "What `client:each` returns.",
    fields = {
      { "total", "integer", "items" },
      { "ok", "integer", "items whose function returned a value" },
      { "failed", "{index: integer, item: any, error: smartlead.Error|string}[]", "items that raised or returned nil, err" },
    } },

  { name = "smartlead.EachOptions", doc = "Options of `client:each`.",
    fields = {
      { "concurrency?", "integer", "items at once, 1..64 (the client's concurrency)" },
      { "progress?", "boolean", "a progress line on a terminal (true)" },
      { "label?", "string", "the progress line's label" },
    } },

  { name = "smartlead.ShowOptions", doc = "Options of `smartlead.show` and `smartlead.format`.",
    fields = {
      { "columns?", "string[]", "dotted paths of the columns of an account table" },
      { "max_width?", "integer", "cut longer values with `…` (60 nested, 40 in table cells)" },
      { "color?", "boolean", "ANSI colours (on a terminal without NO_COLOR)" },
      { "depth?", "integer", "nesting shown (6)" },
      { "max_rows?", "integer", "rows of a table shown (all)" },
    } },

  { name = "smartlead.Fixtures", doc = "The mock's state as a seed file holds it (`smartlua fixtures` writes one; "
      .. "`smartlua --mock=FILE` and `testing.mock{fixtures = FILE}` read one).",
    fields = {
      { "accounts", "table[]", "accounts as stored: the Account fields, clear passwords, no campaign fields" },
      { "campaigns", "smartlead.FixtureCampaign[]", "" },
    } },

  { name = "smartlead.FixtureCampaign", doc = "A campaign in a fixtures file.",
    fields = {
      { "id", "integer", "" },
      { "user_id", "integer", "the owner (the mock's key belongs to user 1001)" },
      { "name", "string", "" },
      { "status", "string", "`ACTIVE`, `PAUSED`, `COMPLETED`, ..." },
      { "created_at", "string", "" },
      { "email_account_ids", "integer[]", "its accounts" },
    } },

  { name = "smartlead.testing.MockOptions", doc = "Options of `testing.mock`; any other key is a mock knob "
      .. "(`latency_ms`, `rate_limit`, `rate_model`, `faults`, ... see README, The mock server).",
    fields = {
      { "fixtures?", "string|smartlead.Fixtures", "`\"bundled\"` (default), a JSON file, or a fixtures table" },
      { "default?", "boolean", "make `smartlead.client()` talk to this mock, as `smartlua --mock` does (true)" },
      { "extra_accounts?", "integer", "that many more generated accounts" },
      { "client?", "smartlead.ClientOptions", "options of the client `mock.client`" },
    } },

  { name = "smartlead.testing.LogEntry", doc = "One request the mock received.",
    fields = {
      { "seq", "integer", "its number" },
      { "method", "string", "" },
      { "path", "string", "below the API's root: `/email-accounts/3001`" },
      { "query", "table<string, string>", "the key as `***`" },
      { "body", "any", "the decoded body, passwords masked" },
      { "status", "integer", "the status answered" },
      { "fault?", "string", "an injected fault" },
    } },

  { name = "smartlead.testing.RunResult", doc = "What `mock:run` returns.",
    fields = {
      { "ok", "boolean", "the script ended without error (an `os.exit(0)` or `os.exit(true)` counts as ok)" },
      { "code", "integer", "its exit code: 0, 1 on error, or what it gave `os.exit`" },
      { "output", "string", "what it printed (`print`, `io.write`)" },
      { "error?", "string", "the error, when it raised" },
    } },
}

-- enums not in the registry
M.aliases = {
  { name = "smartlead.ErrorKind", doc = "What kind of failure an Error is.", values = {
    { "validation", "refused before sending: nothing was sent" },
    { "http", "the server answered 4xx or 5xx" },
    { "network", "no answer (refused, reset, DNS)" },
    { "timeout", "no answer in time" },
    { "json", "an answer that is not the JSON expected" },
    { "shape", "paging found an answer of the wrong shape" },
    { "cancelled", "stopped by Ctrl-C" },
    { "run", "a bulk item that never finished" },
  } },
}

-- Modules and their functions; call: how the reference writes a call (`policy.`, `client:`). fn: name, doc, params = {{name, type, doc}}, returns = {{type, name, doc}}.
-- `method = true`: called with `:`. The Client's endpoint methods come from the registry.
M.modules = {
  { name = "smartlead", class = "smartlead", call = "smartlead.", file = "smartlead.lua", doc = "`require \"smartlead\"`: the client and the helpers around it.",
    fields = {
      { "VERSION", "string", "the version" },
      { "null", "smartlead.Null", "JSON null" },
      { "json", "smartlead.json", "the JSON module" },
      { "policy", "smartlead.policy", "the policies (`require \"smartlead.policy\"`)" },
      { "Error", "table", "the metatable of errors" },
      { "defaults", "smartlead.ClientOptions", "options every `smartlead.client()` takes unless given (set by `--mock`, `--profile`)" },
      { "mock?", "smartlead.mock.Server", "the in-process mock under `smartlua --mock`" },
      { "fleet", "table", "fleet memory: snapshot, history, signals, diff, report (README: Fleet memory)" },
    },
    functions = {
      { name = "client", doc = "A new Client; options left out come from `smartlead.defaults`, the environment, the config file.",
        params = { { "opts?", "smartlead.ClientOptions", "" } }, returns = { { "smartlead.Client" } } },
      { name = "reputation", doc = "Warmup reputation as a number (`\"97%\"` -> 97), nil when there is none.",
        params = { { "account", "smartlead.Account|string|number", "an account or its reputation value" } },
        returns = { { "number|nil" } } },
      { name = "get", doc = "A field by dotted path (`\"warmup_details.status\"`) or request name (`max_email_per_day`); nil where a step is null or missing.",
        params = { { "account", "table", "" }, { "path", "string", "" } }, returns = { { "any" } } },
      { name = "is_null", doc = "True for JSON null.", params = { { "v", "any", "" } }, returns = { { "boolean" } } },
      { name = "mask", doc = "The text with every API key the process knows replaced by `***`.",
        params = { { "text", "string", "" } }, returns = { { "string" } } },
      { name = "operations", doc = "The operation registry: one row per Client endpoint method.",
        params = {}, returns = { { "smartlead.Operation[]" } } },
      { name = "define_operation", doc = "A new Client method for an endpoint smartlua does not know yet; planned, journaled and undone by its kind.",
        params = { { "spec", "smartlead.OperationSpec", "" } }, returns = { { "smartlead.Operation" } } },
      { name = "show", doc = "Prints a value as the REPL does: nested tables indented, accounts as a table, secrets masked.",
        params = { { "value", "any", "" }, { "opts?", "smartlead.ShowOptions", "" } }, returns = {} },
      { name = "format", doc = "What `show` prints, as text (no final newline).",
        params = { { "value", "any", "" }, { "opts?", "smartlead.ShowOptions", "" } }, returns = { { "string" } } },
      { name = "profiles", doc = "The profiles of the config file, sorted (`[name]` sections, and `default` when "
          .. "settings stand outside any section); `smartlead.client{profile = name}` makes a client for one.",
        params = {}, returns = { { "string[]" } } },
      { name = "snapshot", doc = "One pass over the fleet (accounts, campaigns, statistics where asked) stored as today's "
          .. "row per account in the fleet history (SQLite).",
        params = { { "client", "smartlead.Client", "" }, { "opts?", "table", "{db=, workspace=, stats=, day=}" } },
        returns = { { "table", "{workspace, day, accounts, campaigns, requests, ...}" } } },
      { name = "history", doc = "The fleet history: series per account and for the fleet over any window.",
        params = { { "db", "string", "the database file" }, { "opts?", "table", "{workspace=}" } },
        returns = { { "table", "a history with :series, :fleet, :change, :day, :days, :latest" } } },
    } },

  { name = "smartlead.Client", class = "smartlead.Client", call = "client:", doc = "A client of the SmartLead API (or of the mock). "
      .. "Besides the endpoint methods of the registry it has these.",
    functions = {
      { name = "mailbox_statistics", method = true, doc = "Every mailbox's statistics of a campaign: "
          .. "get_mailbox_statistics page by page (20 a page).",
        params = { { "campaign_id", "integer", "" }, { "query?", "table", "start_date, end_date, time_zone, client_id" } },
        returns = { { "table[]|nil", "rows" }, { "smartlead.Error|nil", "err" } } },
      { name = "campaigns_with_accounts", method = true, doc = "get_campaigns, each campaign with its account_ids: "
          .. "what policy.rotate and policy.pause take.",
        params = { { "query?", "table", "as for get_campaigns" }, { "opts?", "table", "{statuses = {ACTIVE = true, ...}}" } },
        returns = { { "table[]|nil", "campaigns" }, { "smartlead.Error|nil", "err" } } },
      { name = "accounts", method = true, doc = "Every account, page after page (following pages fetched ahead), deduplicated by id. A page that fails raises its error.",
        params = { { "filters?", "smartlead.GetEmailAccountsArgs", "the list's filters, without offset and limit" } },
        returns = { { "fun(): smartlead.Account|nil" } } },
      { name = "all_accounts", method = true, doc = "Every account in one array.",
        params = { { "filters?", "smartlead.GetEmailAccountsArgs", "as for `accounts`" } },
        returns = { { "smartlead.Account[]|nil", "accounts" }, { "smartlead.Error|nil", "err" } } },
      { name = "each", method = true, doc = "Runs fn(item) for every item; the calls of different items run concurrently. An item fails when fn raises or returns nil, err.",
        params = { { "items", "any[]", "" }, { "fn", "fun(item: any): any, any", "" }, { "opts?", "smartlead.EachOptions", "" } },
        returns = { { "smartlead.EachReport" } } },
      { name = "request", method = true, doc = "Any API endpoint: path below the base URL.",
        params = { { "method", "\"GET\"|\"POST\"|\"PUT\"|\"PATCH\"|\"DELETE\"", "" }, { "path", "string", "e.g. `/email-accounts/42`" },
          { "opts?", "{query: table?, body: any?}", "" } },
        returns = { { "any", "answer" }, { "smartlead.Error|nil", "err" } } },
      { name = "options", method = true, doc = "The client's settings (never the key).", params = {},
        returns = { { "{concurrency: integer, max_retries: integer, max_wait: number, timeout: number, connect_timeout: number}" } } },
      { name = "base_url", method = true, doc = "The base URL.", params = {}, returns = { { "string" } } },
      { name = "close", method = true, doc = "Frees the connection (also on garbage collection or `<close>`).", params = {}, returns = {} },
      { name = "operations", method = true, doc = "The registry rows, as `smartlead.operations()`.", params = {},
        returns = { { "smartlead.Operation[]" } } },
      { name = "reset_rate_state", method = true, doc = "Forgets what the rate limiter learned (tests).", params = {}, returns = {} },
    } },

  { name = "smartlead.policy", class = "smartlead.policy", call = "policy.", file = "smartlead/policy.lua", doc = "`require \"smartlead.policy\"`: policies decide, "
      .. "the client does. Each returns a change list and never calls the API, so a run can be shown, planned, "
      .. "applied, journaled and undone.",
    fields = { { "CLOSED_STATUSES", "table<string, boolean>", "campaign statuses no account is attached to "
      .. "(STOPPED, ARCHIVED, DRAFTED, COMPLETED)" } },
    functions = {
      { name = "health", doc = "Classifies one account: sick (SMTP or IMAP disconnected, suspended, warmup blocked, reputation under `min_reputation`), warning (over today's limit), else healthy.",
        params = { { "account", "smartlead.Account", "an account table" }, { "params?", "smartlead.HealthParams", "" } },
        returns = { { "smartlead.Health" } } },
      { name = "ramp", doc = "Raises `max_email_per_day` of healthy accounts at or above `good` by `step` (never past `ceiling`), cuts accounts under `bad` (times `cut`, never under `floor`), sets disconnected ones to 0. Sorted by account id.",
        params = { { "accounts", "smartlead.Account[]", "a list of account tables" }, { "params?", "smartlead.RampParams", "" } },
        returns = { { "smartlead.Change[]", "changes" } } },
      { name = "rotate", doc = "Attaches healthy, connected, unsuspended accounts with a limit above 0 that are in fewer than `per_account_campaigns` of these campaigns to the campaign of lowest daily capacity; detaches sick ones; an active campaign always keeps one account.",
        params = { { "campaigns", "smartlead.Campaign[]", "a list of campaign tables `{id=, status=, account_ids={...}}`" },
          { "accounts", "smartlead.Account[]", "a list of account tables" }, { "params?", "smartlead.RotateParams", "" } },
        returns = { { "smartlead.Change[]", "changes" }, { "string[]", "notes", "what was held back and why" } } },
      { name = "pause", doc = "Detaches sick accounts from every ACTIVE campaign (keeping the last one) and sets their limit to 0.",
        params = { { "campaigns", "smartlead.Campaign[]", "a list of campaign tables" },
          { "accounts", "smartlead.Account[]", "a list of account tables" }, { "params?", "smartlead.HealthParams", "" } },
        returns = { { "smartlead.Change[]", "changes" }, { "string[]", "notes" } } },
      { name = "apply", doc = "Performs the changes in order: updates concurrently, attach and detach in requests of at most 100 ids. A failed step does not stop the others.",
        params = { { "client", "smartlead.Client", "" }, { "changes", "smartlead.Change[]", "" }, { "opts?", "smartlead.ApplyOptions", "" } },
        returns = { { "smartlead.ApplyReport" } } },
      { name = "describe", doc = "The changes as text, one line per change (`update 3001 max_email_per_day 40 -> 45 (reason)`), ending in a newline when not empty.",
        params = { { "changes", "smartlead.Change[]", "" } }, returns = { { "string" } } },
      { name = "run", doc = "What the examples do with a decision: prints it and the notes; on a dry run (or with no change) stops there; else applies it and names every step that failed.",
        params = { { "client", "smartlead.Client", "" }, { "changes", "smartlead.Change[]", "" }, { "opts?", "smartlead.RunOptions", "" } },
        returns = { { "boolean", "ok", "true when every change applied" } } },
    } },

  { name = "smartlead.json", class = "smartlead.json", call = "smartlead.json.", file = "smartlead/json.lua", doc = "`smartlead.json`: integers stay integers, `[]` stays apart from `{}`, null is `smartlead.null`.",
    fields = { { "null", "smartlead.Null", "JSON null" }, { "array_mt", "table", "the metatable `array` sets" } },
    functions = {
      { name = "decode", doc = "Decodes JSON text.", params = { { "text", "string", "" } },
        returns = { { "any", "value" }, { "string|nil", "err" } } },
      { name = "encode", doc = "Encodes a value (object keys sorted); raises on a value JSON cannot hold, naming where.",
        params = { { "value", "any", "" } }, returns = { { "string" } } },
      { name = "array", doc = "Marks a table as a JSON array (so `{}` encodes as `[]`).", params = { { "t", "table", "" } },
        returns = { { "table" } } },
      { name = "is_array", doc = "True for a table decoded from (or marked as) a JSON array.", params = { { "t", "any", "" } },
        returns = { { "boolean" } } },
    } },

  { name = "smartlead.mock.Server", class = "smartlead.mock.Server", call = "server:", doc = "A mock server (`require(\"smartlead.mock.server\").start{...}`, or `smartlead.mock` under `smartlua --mock`).",
    fields = { { "api_key", "string", "its key" } },
    functions = {
      { name = "url", method = true, doc = "Its base URL.", params = {}, returns = { { "string" } } },
      { name = "client", method = true, doc = "A client of it.", params = { { "opts?", "smartlead.ClientOptions", "" } }, returns = { { "smartlead.Client" } } },
      { name = "log", method = true, doc = "Every request it received.", params = {}, returns = { { "smartlead.testing.LogEntry[]" } } },
      { name = "state", method = true, doc = "Everything it holds.", params = {}, returns = { { "smartlead.Fixtures" } } },
      { name = "configure", method = true, doc = "Sets knobs.", params = { { "knobs", "table", "" } }, returns = { { "table" } } },
      { name = "clock", method = true, doc = "Reads its clock, or changes it (`{freeze=, offset=, advance=}`).",
        params = { { "changes?", "{freeze: boolean?, offset: number?, advance: number?}", "" } }, returns = { { "{now: number, offset: number, frozen: boolean}" } } },
      { name = "reset", method = true, doc = "State, log, rate windows and clock back to the start; knobs stay.", params = {}, returns = {} },
      { name = "stop", method = true, doc = "Stops it.", params = {}, returns = {} },
    } },

  { name = "smartlead.testing", class = "smartlead.testing", call = "t.", file = "smartlead/testing.lua", doc = "`require \"smartlead.testing\"`: test your scripts "
      .. "and policies with busted against the mock.",
    fields = {
      { "KEY", "string", "the mock's API key, `mock-api-key-0123456789` (also `smartlua mock`'s)" },
      { "BUNDLED", "string", "the name of the bundled fixtures, `\"bundled\"` (265 accounts, 7 campaigns)" },
      { "API_ROOT", "string", "the mock's base path, `/api/v1`: log paths are below it" },
    },
    functions = {
      { name = "mock", doc = "Starts a mock SmartLead on loopback and returns it and a client wired to it. With `default` (true) `smartlead.client()` talks to it too, as under `smartlua --mock`.",
        params = { { "opts?", "smartlead.testing.MockOptions", "" } },
        returns = { { "smartlead.testing.Mock", "mock" }, { "smartlead.Client", "client" } } },
      { name = "load_fixtures", doc = "Reads a fixtures JSON file (as `smartlua fixtures` writes it); raises naming the file when it is not one.",
        params = { { "path", "string", "" } }, returns = { { "smartlead.Fixtures" } } },
      { name = "capture", doc = "Fixtures from a live fleet: every account, its campaigns and their members, through `client` (reads only). With `anonymize` addresses, names, hosts and secrets are replaced consistently.",
        params = { { "client", "smartlead.Client", "" }, { "opts?", "{anonymize: boolean?}", "" } },
        returns = { { "smartlead.Fixtures|nil", "fixtures" }, { "smartlead.Error|nil", "err" } } },
      { name = "anonymize", doc = "A copy of fixtures with every address, name, host, signature and secret replaced; the same address maps to the same fake everywhere; ids, counts, limits, reputations and campaign links are kept.",
        params = { { "fixtures", "smartlead.Fixtures", "" } },
        returns = { { "smartlead.Fixtures" } } },
    } },

  { name = "smartlead.testing.Mock", class = "smartlead.testing.Mock", call = "mock:", doc = "A mock started by `testing.mock`.",
    fields = {
      { "client", "smartlead.Client", "a client wired to it" },
      { "server", "smartlead.mock.Server", "the server underneath" },
      { "KEY", "string", "its API key" },
    },
    functions = {
      { name = "url", method = true, doc = "Its base URL (`http://127.0.0.1:PORT/api/v1`).", params = {}, returns = { { "string" } } },
      { name = "new_client", method = true, doc = "Another client of this mock.", params = { { "opts?", "smartlead.ClientOptions", "" } },
        returns = { { "smartlead.Client" } } },
      { name = "requests", method = true, doc = "Every request it received, oldest first; with `path` only those to that path (exact, or a Lua pattern starting with `^`).",
        params = { { "path?", "string", "" } }, returns = { { "smartlead.testing.LogEntry[]" } } },
      { name = "writes", method = true, doc = "The requests that write (every method but GET), optionally to one path.",
        params = { { "path?", "string", "" } }, returns = { { "smartlead.testing.LogEntry[]" } } },
      { name = "clear_log", method = true, doc = "Forgets the requests so far.", params = {}, returns = {} },
      { name = "state", method = true, doc = "Everything it holds now, in the fixtures' shape (each account with `campaign_ids`).",
        params = {}, returns = { { "smartlead.Fixtures" } } },
      { name = "account", method = true, doc = "One account as stored now, or nil.", params = { { "id", "integer", "" } },
        returns = { { "table|nil" } } },
      { name = "campaign", method = true, doc = "One campaign as stored now, or nil.", params = { { "id", "integer", "" } },
        returns = { { "smartlead.FixtureCampaign|nil" } } },
      { name = "configure", method = true, doc = "Sets knobs (`smartlead.null` puts one back to its default).",
        params = { { "knobs", "table", "" } }, returns = { { "table", "the knobs now" } } },
      { name = "faults", method = true, doc = "Injects faults at these rates (`{p5xx=, drop=, drop_after=, truncate=, html=, p429=, stall=, empty=, text=, seed=}`); nil turns them off.",
        params = { { "rates?", "table", "" } }, returns = {} },
      { name = "rate_limit", method = true, doc = "A rate limit: `{requests=, per=}`, a list of windows, or a model name (`standard`, `pro`, `legacy`, `generous`, `silent`); nil turns it off.",
        params = { { "limit?", "table|string", "" } }, returns = {} },
      { name = "latency", method = true, doc = "Delays every answer by this many milliseconds.", params = { { "ms", "number", "" } }, returns = {} },
      { name = "freeze", method = true, doc = "Stops its clock.", params = {}, returns = {} },
      { name = "advance", method = true, doc = "Moves its clock on (rate windows, the reconnect rule, dates it writes).",
        params = { { "seconds", "number", "" } }, returns = {} },
      { name = "now", method = true, doc = "Its clock, Unix seconds.", params = {}, returns = { { "number" } } },
      { name = "reset", method = true, doc = "Back to the fixtures: state, log, clock and the knobs `testing.mock` was given.",
        params = {}, returns = {} },
      { name = "run", method = true, doc = "Runs a script file in this process as `smartlua --mock=... script args...` would, with `arg` set, and captures what it prints.",
        params = { { "script", "string", "its path" }, { "args?", "string[]", "its arguments" } },
        returns = { { "smartlead.testing.RunResult" } } },
      { name = "stop", method = true, doc = "Stops it (and makes `smartlead.client()` default to what it did before).", params = {}, returns = {} },
    } },
}

-- Exit codes of smartlua, for every command and script run.
M.exit_codes = {
  { 0, "ok" },
  { 1, "error (a script raised, a request failed, a file could not be read)" },
  { 2, "usage: a bad flag or argument; the message names it" },
  { 3, "refused: over `--max-changes`, a declined confirmation" },
  { 4, "some writes failed or were skipped" },
}

return M
