-- TLS verification against a real TLS server on loopback (openssl s_server with a self-signed
-- certificate): refused by default, accepted only with insecure_skip_tls_verify = true, which
-- warns. The key must not show in any of it.
local proc = require "proc"

local KEY = "sk-TLS-SPEC-4c9e1a7b33"

describe("TLS verification", function()
  local dir, port, server_pid

  -- Starts openssl s_server on a free port; returns the port once it accepts connections.
  local function start_tls_server()
    for attempt = 1, 20 do
      local p = 20000 + (os.time() * 7 + attempt * 7919 + math.random(0, 9999)) % 40000
      local r = proc.sh(("cd %s && (openssl s_server -quiet -www -accept 127.0.0.1:%d -cert c.pem -key k.pem"
        .. " >s.log 2>&1 & echo $!)"):format(proc.q(dir), p))
      server_pid = tonumber(r.out:match("%d+"))
      for _ = 1, 50 do -- up to 5 s for it to listen
        if proc.sh(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d'"):format(p)).code == 0
          and proc.sh("kill -0 " .. server_pid).code == 0 then
          return p
        end
        if proc.sh("kill -0 " .. server_pid).code ~= 0 then break end -- port taken: try another
        proc.nap(0.1)
      end
    end
    error("openssl s_server did not start: " .. (proc.read(dir .. "/s.log") or ""))
  end

  setup(function()
    dir = proc.mktemp()
    local r = proc.sh(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 2 " ..
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"):format(proc.q(dir)))
    assert(r.code == 0, "openssl req failed: " .. r.err)
    port = start_tls_server()
  end)

  teardown(function()
    if server_pid then os.execute("kill " .. server_pid .. " 2>/dev/null") end
    proc.rmtree(dir)
  end)

  -- Runs one request from a child smartlua with the given extra client options.
  local function request(extra)
    local script = ([[
      local c = require("smartlead").client{ api_key = %q, base_url = "https://127.0.0.1:%d/api/v1",
        max_retries = 0 %s }
      local a, err = c:get_email_account(3001)
      print(err and err.kind or "ok", err and err.message or "")
    ]]):format(KEY, port, extra or "")
    return proc.smartlua({ "-e", script }, "env -u SMARTLEAD_API_KEY -u SSL_CERT_FILE -u CURL_CA_BUNDLE")
  end

  it("refuses a certificate it cannot verify, and says why", function()
    local r = request()
    assert.equal(0, r.code, r.err)
    local kind, message = r.out:match("^(%S+)%s+(.-)\n")
    assert.equal("network", kind, r.out)
    assert.matches("certificate", message)
    assert.is_falsy((r.out .. r.err):find(KEY, 1, true))
  end)

  it("stays on when the option is false, and refuses anything but a boolean", function()
    local r = request(", insecure_skip_tls_verify = false")
    assert.matches("certificate", r.out)
    r = request(', insecure_skip_tls_verify = "false"')
    assert.equal(1, r.code)
    assert.matches("insecure_skip_tls_verify must be true or false", r.err)
  end)

  it("skips the check only with insecure_skip_tls_verify = true, and warns on stderr", function()
    local r = request(", insecure_skip_tls_verify = true")
    assert.equal(0, r.code, r.err)
    -- the TLS handshake succeeded: whatever the answer, it is not a certificate error
    assert.is_falsy(r.out:find("certificate", 1, true), r.out)
    assert.is_falsy(r.out:match("^network"), r.out)
    assert.matches("WARNING: insecure_skip_tls_verify: TLS certificates of https://127.0.0.1:%d+/api/v1"
      .. " are NOT checked", r.err)
    assert.is_falsy((r.out .. r.err):find(KEY, 1, true))
  end)
end)
