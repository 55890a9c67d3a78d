#!/usr/bin/env python3
"""`make bench`: smartlua as users get it (default settings) against the baselines a user would
write today, on the mock server under each of SmartLead's documented rate models.

    python3 bench/run.py            # everything (about 45 minutes on a 2-core machine)
    BENCH_REPEAT=1 python3 bench/run.py
    BENCH_ONLY=W1,W5 BENCH_MODELS=standard,generous BENCH_CLIENTS=smartlua,node python3 bench/run.py
    BENCH_ONLY=JSON,FLEET python3 bench/run.py   # only bench/json_page.lua, bench/fleet_bench.lua

Each workload gets its own `smartlua mock` process (so a client's CPU and memory are measured
alone) whose rate model is switched by knob; before every client run the mock is reset (state,
log, rate windows, clock). Rounds are interleaved (the client order rotates each round). Wall
time is measured here; user+sys CPU and peak RSS by GNU time. Every client run starts with empty
XDG config, state and data directories (no config file, no remembered limits: a first run).
For each workload and rate model the floor is computed (floor_seconds below): the least wall
time that server's windows, the latency, the mock's own time per answer (measure_service) and
smartlua's default concurrency allow for the requests the work needs (a listing the work picks
its accounts from answered before the writes); each run is shown as a ratio to it.

Prints progress on stderr, the tables on stdout and into bench/results.md. Exits 1 only when a
correctness check fails (a client crashed or timed out, a wrong count, a write missing or
applied twice); targets that are missed are shown, not fatal. Python 3 standard library only.

SMARTLUA: the smartlua binary measured (default build/smartlua); BENCH_MOCK: the binary that
serves the mock (default SMARTLUA), so a client build can be measured against this mock.
"""
import heapq
import http.client
import json
import math
import os
import re
import secrets
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMARTLUA = os.path.abspath(os.environ.get("SMARTLUA", os.path.join(ROOT, "build", "smartlua")))
MOCK_BIN = os.path.abspath(os.environ.get("BENCH_MOCK", SMARTLUA))
PYTHON = os.environ.get("BENCH_PYTHON", "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3")
NODE = os.environ.get("BENCH_NODE", shutil.which("node") or "node")
# GNU time measures the client from a small parent: a child forked from this runner would carry
# the runner's own peak RSS in its ru_maxrss (the high-water mark survives exec).
GNU_TIME = os.environ.get("BENCH_TIME", "/usr/bin/time")
USER_ID = 1001  # the fixture's default user, whose key the clients use
FIXTURE_ACCOUNTS = 260  # user 1001's accounts in spec/fixtures/seed.json
PAGE = 100
WORKLOADS_LUA = os.path.join(ROOT, "bench", "workloads.lua")
JSON_SCRIPT = os.path.join(ROOT, "bench", "json_page.lua")
FLEET_SCRIPT = os.path.join(ROOT, "bench", "fleet_bench.lua")

CLIENTS = {
    "smartlua": lambda w: [SMARTLUA, WORKLOADS_LUA, w],
    "python": lambda w: [PYTHON, os.path.join(ROOT, "bench", "baseline.py"), w],
    "node": lambda w: [NODE, os.path.join(ROOT, "bench", "baseline.mjs"), w],
}

# The servers. The five rate models are the mock's presets (knob rate_model; their windows are
# read from lua/smartlead/mock/limiter.lua at start, so the floors follow the mock). "50/s" is
# one window of 50 requests a second with X-RateLimit-* on every answer and Retry-After on 429.
MODELS = ["standard", "pro", "legacy", "generous", "silent"]
MODEL_NOTES = {
    "standard": "10/1s, 60/60s, 1000/3600s (Standard plan)", "pro": "20/1s, 120/60s, 3000/3600s (Pro plan)",
    "legacy": "10/2s (legacy help centre)", "generous": "300/60s (a live account's pace)",
    "silent": "10/2s, no headers, 429 without Retry-After", "50/s": "50/1s, headers on every answer",
}
SERVERS = {m: {"rate_model": m} for m in MODELS}
SERVERS["50/s"] = {"rate_limit": [{"requests": 50, "per": 1}], "rate_headers": "all"}

# fleet: user 1001's accounts; updates: how many accounts the workload changes (the first of the
# listing); reads: the list pages the floor counts; latency: ms the mock holds every answer.
# Request counts are chosen so that no run meets an hourly window (each stays under 1,000
# requests in the hour) and the slowest server keeps a run within about a minute; W3 puts a
# run near the end of a nearly spent hour with the mock clock (see prespend).
WORKLOADS = {
    "W1": dict(title="fleet scan: list 5,000 accounts, 50 ms", fleet=5000, latency=50, servers=MODELS,
               reads=5000 // PAGE + 1, reps=3),
    "W2": dict(title="bulk update: 100 accounts picked from the listing, 50 ms", fleet=5000, latency=50,
               updates=100, reads=1, servers=MODELS, reps=1, listing_first=True),
    "W3": dict(title="the same 100 updates when the key's longest window has 40 requests left and ends "
                     "in 30 s (mock clock)", fleet=5000, latency=50, updates=100, reads=1,
               servers=["standard", "pro", "generous"], prespend=dict(left=40, ends_in=30), reps=1,
               listing_first=True),
    "W4": dict(title="cost: list and filter 10,000 accounts, no latency", fleet=10000, latency=0,
               servers=MODELS, reads=10000 // PAGE + 1, reps=1),
    "W5": dict(title="update 300 accounts by id (not listed first), 50 ms", fleet=5000, latency=50,
               updates=300, reads=3, servers=["50/s"], reps=3),
    "W6": dict(title="apply a 2,000-change plan vs the same changes through each, 50 ms", fleet=2000,
               latency=50, updates=2000, reads=20, servers=["50/s"], reps=1, clients=["each", "apply"],
               listing_first=True),
    "SNAP": dict(title="fleet memory: one snapshot of 50,000 accounts", fleet=50000, latency=0,
                 servers=["50/s"], reads=50000 // PAGE + 1, inflight=1, reps=1, clients=["smartlua"]),
}
UPDATES = ("W2", "W3", "W5", "W6")

failures = []  # correctness failures: (workload, server, client, rep, message)
service_note = {}  # workload -> (seconds a 100-account page, seconds an update) the mock took


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the floor

def floor_seconds(n, windows, latency, inflight, start=0.0, state=None, service=None, barrier=0):
    """The least wall time, from `start` (Unix seconds), in which n requests can all be answered
    by the mock under `windows` [{requests, per}], each answer held `latency` seconds, with at
    most `inflight` requests in flight. Returns (seconds, the windows' state after).

    Derivation. The mock (lua/smartlead/mock/limiter.lua) keeps one fixed window per limit and
    key: a window opens at the first request it accepts, at the mock's clock (whole seconds,
    os.time), and every request arriving while now < open + per counts in it; a request is
    refused while any window is full, and a refused one counts nowhere. A request arriving at
    real time t therefore goes through iff every window has room or has expired by floor(t). Its
    answer comes `latency` later (the mock counts on arrival, then holds the answer), and the
    client keeps at most `inflight` in flight. Sending each request at the earliest instant the
    windows and a free slot allow is optimal: starting one later never lets a later one start
    sooner (a window that opens later also closes later, and a slot freed later is freed later),
    so the greedy schedule's last start is the earliest possible, and the floor is that start
    plus the latency. Example: 500 writes under 10/1s and 60/60s: the burst window lets ten go
    each second, but the minute window takes 60 and then holds the rest until it closes, so
    request 501 cannot start before 8 minutes: the minute window dominates. Reads and writes
    draw on the same budget, so only the count matters; `inflight` is smartlua's default
    concurrency (the baselines, sequential, get the same floor: it is the work's, not theirs).
    `state` carries windows already open (W3's nearly spent hour). `service` (a list: seconds
    per request, in order) is the mock's own work: it answers one request at a time (one Lua
    thread), computing the answer when the request arrives and only then holding it `latency`,
    so a request's answer comes service + latency after the server is free to take it (see
    measure_service). `barrier`: the first that many requests (a listing the work picks its
    accounts from) are all answered before any later one can start."""
    wins = [dict(w) for w in state] if state else [dict(requests=w["requests"], per=w["per"], open=None, count=0)
                                                    for w in windows]
    slots = [start] * max(1, inflight)
    t = last = free = start
    for i in range(n):
        t = max(t, heapq.heappop(slots))
        if barrier and i == barrier:  # the work knows its accounts only once the listing is in
            t = max(t, last)
        while True:
            now = math.floor(t + 1e-9)
            until = [w["open"] + w["per"] for w in wins
                     if w["open"] is not None and now < w["open"] + w["per"] and w["count"] >= w["requests"]]
            if not until:
                break
            t = float(max(until))
        now = math.floor(t + 1e-9)
        for w in wins:
            if w["open"] is None or now >= w["open"] + w["per"]:
                w["open"], w["count"] = now, 1
            else:
                w["count"] += 1
        begin = max(t, free)  # the server takes it once done with the one before
        free = begin + (service[i] if service and i < len(service) else 0.0)
        heapq.heappush(slots, free + latency)
        last = max(last, free + latency)
    return (last - start if n else 0.0), wins


def requests_of(spec):
    return spec.get("updates", 0) + spec["reads"]


def inflight_of(spec, defaults):
    return spec.get("inflight", defaults["concurrency"])


# ------------------------------------------------------------------------------ the mock server

class Mock:
    """One `smartlua mock` process with its knobs, and its admin API."""

    def __init__(self, extra, knobs, key, workdir):
        self.key = key
        self.knobs_file = os.path.join(workdir, "knobs.json")
        with open(self.knobs_file, "w") as f:
            json.dump(knobs, f)
        self.err = open(os.path.join(workdir, "mock.stderr"), "w+")
        env = dict(os.environ, SMARTLEAD_API_KEY=key)
        self.proc = subprocess.Popen(
            [MOCK_BIN, "mock", "--port", "0", "--extra-accounts", str(extra), "--knobs", self.knobs_file],
            stdout=subprocess.PIPE, stderr=self.err, env=env, start_new_session=True)
        line = self._first_line(deadline=time.monotonic() + 180)
        m = re.search(r"(http://127\.0\.0\.1:(\d+))/api/v1", line)
        if not m:
            self.stop()
            self.err.seek(0)
            raise RuntimeError(f"mock did not start: {line!r} {self.err.read()[-2000:]}")
        self.admin_base, self.port = m.group(1), int(m.group(2))
        self.url = m.group(0)

    def _first_line(self, deadline):
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        return buf.decode(errors="replace").split("\n")[0]

    def admin(self, method, path, body=None, timeout=180):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.admin_base + "/__mock/" + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def configure(self, knobs):
        """Sets the server's knobs (every rate knob named, so nothing of the last server stays)."""
        changes = {"rate_model": None, "rate_limit": None, "rate_headers": None}
        changes.update(knobs)
        self.admin("POST", "config", changes)
        cfg = self.admin("GET", "config")
        for k, v in changes.items():
            if cfg.get(k) != v:
                raise RuntimeError(f"mock knob {k} is {cfg.get(k)!r}, wanted {v!r}")

    def spend(self, count):
        """count cheap API requests with the bench key, one keep-alive connection; all must pass."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        path = "/api/v1/email-accounts/?" + urllib.parse.urlencode({"api_key": self.key, "offset": 0, "limit": 1})
        try:
            for _ in range(count):
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"pre-spending the budget: HTTP {r.status}")
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


def measure_service(mock, spec, ctx, rounds=5):
    """The mock's own time per request of this workload's kinds (a 100-account page, an update),
    measured here before the clients run: one keep-alive connection, requests one after another
    at latency 0 with no rate limit, pages spread over the whole fleet, the fastest of `rounds`
    passes of 20 (a floor takes the least the server needs; this machine's noise only adds).
    It includes this runner's reading of the answer, so it is a little above the server's own
    work. Returns (the per-request list for floor_seconds: the workload's list pages first,
    then its updates; seconds a page; seconds an update)."""
    mock.admin("POST", "config", {"latency_ms": 0, "rate_model": None, "rate_limit": None})
    conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=60)

    def timed(method, path, body=None):
        t = time.monotonic()
        conn.request(method, "/api/v1" + path + ("&" if "?" in path else "?") + urllib.parse.urlencode({"api_key": mock.key}),
                     body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"measuring the mock's service time: {method} {path}: HTTP {r.status}")
        return time.monotonic() - t

    def fastest(fn):
        return min(sum(fn(i) for i in range(20)) / 20 for _ in range(rounds))

    pages = spec["fleet"] // PAGE + 1
    try:
        page = fastest(lambda i: timed("GET", f"/email-accounts/?offset={(i * 7 % pages) * PAGE}&limit={PAGE}"))
        write = 0.0
        if spec.get("updates"):
            ids = ctx["ids"]
            write = fastest(lambda i: timed("POST", f"/email-accounts/{ids[i % len(ids)]}", {"max_email_per_day": 7}))
    finally:
        conn.close()
        mock.admin("POST", "config", {"latency_ms": spec["latency"]})
        mock.admin("POST", "reset")
    return [page] * spec["reads"] + [write] * spec.get("updates", 0), page, write


def prespend(mock, windows, left, ends_in, latency_ms):
    """W3: the key has already used its longest window (the hour on Standard and Pro, the minute
    on the generous server) down to `left` requests, and that window ends `ends_in` s from now.
    The mock clock is frozen and set back to when the window opened; the requests are sent at
    the instants the windows allow (the greedy schedule of floor_seconds, clock moved to each),
    then the clock runs again at the real time, which clients read X-RateLimit-Reset against.
    Returns (requests sent, the windows' state for the floor), or (0, None) when the longest
    window is shorter than ends_in (nothing carries over)."""
    longest = max(windows, key=lambda w: w["per"])
    if longest["per"] <= ends_in:
        return 0, None
    n = longest["requests"] - left
    mock.admin("POST", "config", {"latency_ms": 0})
    frozen = mock.admin("POST", "clock", {"freeze": True})["now"]
    opened = frozen + ends_in - longest["per"]
    # the schedule: the greedy start of each request, as floor_seconds makes it
    wins = [dict(requests=w["requests"], per=w["per"], open=None, count=0) for w in windows]
    times = []
    t = float(opened)
    for _ in range(n):
        while True:
            until = [w["open"] + w["per"] for w in wins
                     if w["open"] is not None and t < w["open"] + w["per"] and w["count"] >= w["requests"]]
            if not until:
                break
            t = float(max(until))
        for w in wins:
            if w["open"] is None or t >= w["open"] + w["per"]:
                w["open"], w["count"] = int(t), 1
            else:
                w["count"] += 1
        times.append(int(t))
    i = 0
    while i < len(times):
        j = i
        while j < len(times) and times[j] == times[i]:
            j += 1
        mock.admin("POST", "clock", {"offset": times[i] - frozen})
        mock.spend(j - i)
        i = j
    mock.admin("POST", "clock", {"freeze": False, "offset": 0})
    mock.admin("POST", "config", {"latency_ms": latency_ms})
    return n, wins


# ------------------------------------------------------------------------------ one client run

def run_client(cmd, env, timeout, workdir, tag):
    """Runs cmd under GNU time; returns dict(wall, cpu, rss_mb, rc, stdout, stderr, timed_out, start)."""
    out_path, err_path = os.path.join(workdir, tag + ".out"), os.path.join(workdir, tag + ".err")
    time_path = os.path.join(workdir, tag + ".time")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start_epoch = time.time()
        start = time.monotonic()
        proc = subprocess.Popen([GNU_TIME, "-q", "-o", time_path, "-f", "%U %S %M"] + cmd,
                                stdout=out, stderr=err, env=env, cwd=ROOT, start_new_session=True)
        box = {}

        def reap():
            _, status, _usage = os.wait4(proc.pid, 0)
            box.update(end=time.monotonic(), status=status)

        t = threading.Thread(target=reap, daemon=True)
        t.start()
        t.join(timeout)
        timed_out = t.is_alive()
        if timed_out:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            t.join(30)
        proc.returncode = 0  # reaped by wait4 above; keep Popen from trying again
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        stderr = f.read()
    base = dict(stdout=stdout, stderr=stderr, start=start_epoch)
    if "status" not in box or timed_out:
        return dict(base, wall=float(timeout), cpu=0.0, rss_mb=0.0, rc=-9, timed_out=True)
    try:
        with open(time_path) as f:
            user, system, rss_kb = f.read().split()[-3:]
        cpu, rss_mb = float(user) + float(system), int(rss_kb) / 1024.0
    except (OSError, ValueError):
        cpu, rss_mb = 0.0, 0.0
    return dict(base, wall=box["end"] - start, cpu=cpu, rss_mb=rss_mb,
                rc=os.waitstatus_to_exitcode(box["status"]), timed_out=False)


def parse_result(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            try:
                return json.loads(line[7:])
            except ValueError:
                return None
    return None


def client_env(key, mock, workdir, tag, extra):
    """A first run with default settings: no SMARTLUA_* settings, empty XDG config, state (journal,
    remembered limits) and data directories of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTLUA_")}
    home = os.path.join(workdir, "home-" + tag)
    for sub in ("config", "state", "data"):
        os.makedirs(os.path.join(home, sub), exist_ok=True)
    env.update(SMARTLEAD_API_KEY=key, SMARTLEAD_BASE_URL=mock.url, XDG_CONFIG_HOME=os.path.join(home, "config"),
               XDG_STATE_HOME=os.path.join(home, "state"), XDG_DATA_HOME=os.path.join(home, "data"))
    env.update(extra)
    return env


# ------------------------------------------------------------------------------ checks

def reputation(account):
    w = account.get("warmup_details")
    v = w.get("warmup_reputation") if isinstance(w, dict) else None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v.strip().rstrip("%"))
        except ValueError:
            return None
    return None


UPDATE_PATH = re.compile(r"^/api/v1/email-accounts/(\d+)/?$")


def log_facts(mock, after_seq):
    """The client's requests from the mock's log (those after after_seq): counts and 429s."""
    entries = mock.admin("GET", "log")
    if entries and entries[0].get("seq", 1) > after_seq + 1:
        raise RuntimeError("the request log was trimmed; raise log_limit")
    mine = [e for e in entries if e.get("seq", 0) > after_seq]
    facts = dict(server_429=sum(1 for e in mine if e.get("status") == 429),
                 gets=sum(1 for e in mine if e.get("method") == "GET"),
                 posts=sum(1 for e in mine if e.get("method") == "POST"), entries=mine)
    return facts


def check_updates(mock, ids, value, entries):
    """Problems with the writes (empty list: all good): every value set, each write accepted once."""
    problems = []
    state = mock.admin("GET", "state")
    by_id = {a["id"]: a for a in state["accounts"]}
    wrong = [i for i in ids if by_id.get(i, {}).get("message_per_day") != value]
    if wrong:
        problems.append(f"{len(wrong)} of {len(ids)} accounts lack max_email_per_day={value} (e.g. {wrong[:5]})")
    ok_posts = {}
    for e in entries:
        m = UPDATE_PATH.match(e.get("path", ""))
        if e.get("method") == "POST" and m and e.get("status") == 200:
            ok_posts[int(m.group(1))] = ok_posts.get(int(m.group(1)), 0) + 1
    want = set(ids)
    twice = [i for i, n in ok_posts.items() if n != 1]
    missing = [i for i in ids if i not in ok_posts]
    extra = [i for i in ok_posts if i not in want]
    if twice or missing or extra:
        problems.append(f"not exactly once: {len(twice)} applied twice or more, {len(missing)} never, "
                        f"{len(extra)} not asked for")
    return problems


def check_run(w, spec, res, run, mock, ctx, value, after_seq):
    """Correctness of one run: a list of problems, plus facts for the tables."""
    if run["timed_out"]:
        return [f"timed out after {run['timeout']:.0f} s"], {}
    if run["rc"] != 0:
        return [f"exit {run['rc']}: {run['stderr'].strip()[-600:]}"], {}
    if res is None:
        return ["no RESULT line on stdout"], {}
    facts = log_facts(mock, after_seq)
    entries = facts.pop("entries")
    facts["seen_429"] = res.get("seen_429", 0)
    problems = []
    if w in ("W1", "W4", "SNAP") and res.get("accounts") != spec["fleet"]:
        problems.append(f"{res.get('accounts')} accounts seen, expected {spec['fleet']}")
    if w == "W1":
        facts["note"] = f"{res.get('accounts')} accounts"
    elif w in UPDATES:
        problems += check_updates(mock, ctx["ids"], value, entries)
        if res.get("updated") not in (None, len(ctx["ids"])):
            problems.append(f"script reports {res.get('updated')} updates, expected {len(ctx['ids'])}")
        facts["note"] = f"{len(ctx['ids'])} applied"
    elif w == "W4":
        if res.get("weak_gmail") != ctx["weak_gmail"]:
            problems.append(f"counted {res.get('weak_gmail')} weak Gmail accounts, the state says {ctx['weak_gmail']}")
        facts["note"] = f"{res.get('weak_gmail')} weak Gmail"
    elif w == "SNAP":
        facts["requests"] = res.get("requests")
        facts["db_bytes"] = sum(os.path.getsize(p) for p in (ctx["db"], ctx["db"] + "-wal") if os.path.exists(p))
        facts["note"] = f"{res.get('accounts')} accounts, {res.get('requests')} requests"
    return problems, facts


# ------------------------------------------------------------------------------ a workload

def prepare(w, spec, mock, workdir):
    """Checks the fleet and picks the work: ids for updates, the expected W4 count."""
    state = mock.admin("GET", "state")
    own = [a for a in state["accounts"] if a.get("user_id") == USER_ID]
    if len(own) != spec["fleet"]:
        raise RuntimeError(f"{w}: the mock holds {len(own)} accounts of user {USER_ID}, expected {spec['fleet']}")
    ctx = {}
    if "updates" in spec:
        ctx["ids"] = sorted(a["id"] for a in own)[:spec["updates"]]
        ctx["ids_file"] = os.path.join(workdir, "ids.txt")
        with open(ctx["ids_file"], "w") as f:
            f.write("\n".join(map(str, ctx["ids"])) + "\n")
    if w == "W4":
        ctx["weak_gmail"] = sum(1 for a in own if a.get("type") == "GMAIL"
                                and reputation(a) is not None and reputation(a) < 90)
    return ctx


def make_plan(mock, key, workdir, tag, env, timeout):
    """W6: the plan of the same changes (smartlua --plan --plan-out), made before the timed apply."""
    plan = os.path.join(workdir, tag + ".plan.json")
    cmd = [SMARTLUA, "--plan", "--plan-out", plan, WORKLOADS_LUA, "W6"]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or not os.path.exists(plan):
        raise RuntimeError(f"making the W6 plan failed (exit {r.returncode}): {r.stderr.strip()[-600:]}")
    return plan


def command_for(w, c, plan=None):
    if w == "W6":
        return [SMARTLUA, "apply", plan] if c == "apply" else [SMARTLUA, WORKLOADS_LUA, "W6"]
    return CLIENTS[c](w)


def run_workload(w, spec, clients, servers, reps, key, workdir, results, counter, windows, defaults):
    log(f"== {w}: {spec['title']} (mock with {spec['fleet'] - FIXTURE_ACCOUNTS} extra accounts, "
        f"latency {spec['latency']} ms, servers {', '.join(servers)}, {reps} round(s))")
    mock = Mock(spec["fleet"] - FIXTURE_ACCOUNTS, {"latency_ms": spec["latency"], "log_limit": 50000}, key, workdir)
    try:
        ctx = prepare(w, spec, mock, workdir)
        n = requests_of(spec)
        inflight = inflight_of(spec, defaults)
        service, page_s, write_s = measure_service(mock, spec, ctx)
        service_note[w] = (page_s, write_s)
        log(f"  mock service time: {page_s * 1000:.2f} ms a 100-account page, {write_s * 1000:.2f} ms an update")
        for rep in range(reps):
            for s in servers:
                mock.configure(SERVERS[s])
                barrier = spec["reads"] if spec.get("listing_first") else 0
                est, _ = floor_seconds(n, windows[s], spec["latency"] / 1000, inflight, service=service,
                                       barrier=barrier)
                timeout = 3 * est + 120 + (spec["fleet"] / 1000 if spec["latency"] == 0 else 0)
                order = clients[rep % len(clients):] + clients[:rep % len(clients)]
                for c in order:
                    if (w, s, c) in results and any(r["timed_out"] for r in results[(w, s, c)]):
                        continue  # a client that timed out is not run again here (bounded time)
                    counter[0] += 1
                    value = 1000 + counter[0]  # a new max_email_per_day every run
                    tag = f"{w}-{s.replace('/', '_')}-{c}-{rep}"
                    mock.admin("POST", "reset")
                    extra = {"BENCH_EXPECT": str(spec["fleet"]), "BENCH_VALUE": str(value)}
                    if "ids_file" in ctx:
                        extra["BENCH_IDS_FILE"] = ctx["ids_file"]
                    if w == "SNAP":
                        ctx["db"] = extra["BENCH_DB"] = os.path.join(workdir, tag + ".db")
                    env = client_env(key, mock, workdir, tag, extra)
                    plan = None
                    if w == "W6" and c == "apply":
                        plan = make_plan(mock, key, workdir, tag, env, timeout)
                        mock.admin("POST", "reset")
                    spent, state = 0, None
                    if spec.get("prespend"):
                        spent, state = prespend(mock, windows[s], spec["prespend"]["left"],
                                                spec["prespend"]["ends_in"], spec["latency"])
                    run = run_client(command_for(w, c, plan), env, timeout, workdir, tag)
                    run["timeout"] = timeout
                    floor, _ = floor_seconds(n, windows[s], spec["latency"] / 1000, inflight,
                                             start=run["start"], state=state, service=service, barrier=barrier)
                    held, _ = floor_seconds(n, windows[s], spec["latency"] / 1000, inflight,
                                            start=run["start"], state=state)
                    # no floor where the windows let every request go at once and nothing is held
                    # (W4 on the generous server): the time is then the mock's own work, which
                    # one sequential client's measure of it does not bound well enough to judge by
                    run["floor"] = floor if held >= 0.01 else None
                    res = parse_result(run["stdout"]) if w != "W6" or c != "apply" else {"updated": None}
                    try:
                        problems, facts = check_run(w, spec, res, run, mock, ctx, value, spent)
                    except RuntimeError as e:
                        problems, facts = [str(e)], {}
                    run.update(facts, result=res, problems=problems)
                    results.setdefault((w, s, c), []).append(run)
                    status = "ok" if not problems else "FAILED: " + "; ".join(problems)
                    vs = (f"floor {run['floor']:.2f} s, {run['wall'] / run['floor']:.2f}x" if run["floor"]
                          else "no floor")
                    log(f"  [{w} {s} {rep + 1}/{reps}] {c:8s} {run['wall']:7.2f} s ({vs}) "
                        f"{run['cpu']:5.2f} s cpu {run['rss_mb']:5.1f} MB "
                        f"429s script {facts.get('seen_429', '?')} server {facts.get('server_429', '?')}  "
                        f"GET {facts.get('gets', '?')} POST {facts.get('posts', '?')}  {status}")
                    for p in problems:
                        failures.append((w, s, c, rep + 1, p))
    finally:
        mock.stop()


# ------------------------------------------------------------------------------ JSON, fleet memory

def run_script(name, cmd, timeout):
    log(f"== {name}: {' '.join(os.path.relpath(x, ROOT) if x.startswith(ROOT) else x for x in cmd)}")
    started = time.monotonic()
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        failures.append((name, "-", "smartlua", 1, f"timed out after {timeout} s"))
        return None
    res = parse_result(run.stdout)
    if run.returncode != 0 or not res:
        failures.append((name, "-", "smartlua", 1, f"exit {run.returncode}: {run.stderr.strip()[-600:]}"))
        return None
    for line in run.stdout.splitlines():
        if not line.startswith("RESULT "):
            log("  " + line)
    res["wall"] = time.monotonic() - started
    return res


# ------------------------------------------------------------------------------ the report

def good(runs):
    return [r for r in runs or [] if not r["problems"]]


def med(runs, k):
    """Median over the runs that passed their checks; None when none did."""
    vals = [r[k] for r in good(runs) if r.get(k) is not None]
    return statistics.median(vals) if vals else None


def ratio_med(runs):
    vals = [r["wall"] / r["floor"] for r in good(runs) if r.get("floor")]
    return statistics.median(vals) if vals else None


def fmt_x(x):
    return "—" if x is None or x != x else f"{x:.2f}x"


def fmt_s(x):
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def cell(runs):
    """'12.3 s = 1.05x' (median wall, median ratio to the floor) or FAILED."""
    if not runs:
        return "—"
    if not good(runs):
        return "FAILED"
    bad = len(runs) - len(good(runs))
    x = ratio_med(runs)
    return f"{fmt_s(med(runs, 'wall'))} s" + (f" = {fmt_x(x)}" if x else "") + (f" ({bad} FAILED)" if bad else "")


def n429(runs, k):
    g = good(runs)
    return "—" if not g else f"{max(r.get(k) or 0 for r in g)}"


def build_label(client_probe):
    tree = os.path.dirname(os.path.dirname(SMARTLUA))  # the checkout the binary was built in
    try:
        rev = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip() or "?"
        # changed files, but not the results this runner writes
        dirty = subprocess.run(["git", "-C", tree, "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!bench/results.md"], capture_output=True, text=True, timeout=10).stdout.strip()
        rev += " with uncommitted changes" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        rev = "?"
    rate = str(client_probe["defaults"].get("rate", "?")).split("/")
    pace = f"{rate[0]} requests per {rate[1]} s" if len(rate) == 2 else "/".join(rate)
    limiter = ("the limiter that learns the server's budget from its headers (client:rate_budget)"
               if client_probe.get("rate_budget")
               else f"a fixed client pace of {pace}, whatever the server says (no limiter that learns from "
                    "headers in this build)")
    return (f"`{os.path.relpath(SMARTLUA, ROOT)}` at {rev}, defaults: concurrency "
            f"{client_probe['defaults'].get('concurrency')}, rate {client_probe['defaults'].get('rate')}: {limiter}")


def matrix_lines(results, clients, others, plan_used, matrix):
    """The workloads x servers table, then the cost table."""
    lines = []
    head = ["workload", "server", "requests", "floor s", "smartlua"] + others + \
           [f"{c} / smartlua" for c in others] + ["429s script / server", "smartlua sent"]
    lines += ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 4) + "---|---|"]
    for w in matrix:
        servers = plan_used[w][0]
        spec = WORKLOADS[w]
        for i, s in enumerate(servers):
            rs = {c: results.get((w, s, c)) for c in clients}
            if not any(rs.values()):
                continue
            floor = med(rs.get("smartlua") or next(r for r in rs.values() if r), "floor")
            speed = []
            for c in others:
                a, b = med(rs.get(c), "wall"), med(rs.get("smartlua"), "wall")
                speed.append(fmt_x(a / b) if a and b else "—")
            n429s = ", ".join(f"{c} {n429(rs.get(c), 'seen_429')} / {n429(rs.get(c), 'server_429')}"
                              for c in clients if rs.get(c))
            sent = "—"
            if good(rs.get("smartlua")):
                g = good(rs["smartlua"])[-1]
                sent = f"{g.get('gets')} GET + {g.get('posts')} POST"
            label = f"{w} {spec['title']}" if i == 0 else ""
            lines.append("| " + " | ".join([label, f"{s}: {MODEL_NOTES[s]}", str(requests_of(spec)), fmt_s(floor)] +
                                          [cell(rs.get(c)) for c in clients] + speed + [n429s, sent]) + " |")
    # the cost of each workload: CPU and memory (medians over the servers' medians)
    lines += ["", "Cost: user+sys CPU s / peak RSS MB, median over the servers.", "",
              "| workload | " + " | ".join(clients) + " |", "|---|" + "---:|" * len(clients)]
    for w in matrix:
        row = []
        for c in clients:
            cpus = [med(results.get((w, s, c)), "cpu") for s in plan_used[w][0]]
            rsss = [med(results.get((w, s, c)), "rss_mb") for s in plan_used[w][0]]
            cpus, rsss = [x for x in cpus if x is not None], [x for x in rsss if x is not None]
            row.append(f"{statistics.median(cpus):.2f} s / {statistics.median(rsss):.1f} MB" if cpus else "—")
        lines.append(f"| {w} | " + " | ".join(row) + " |")
    return lines


def report(results, clients, plan_used, client_probe, json_res, fleet_res):
    lines = []
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines += [f"# smartlua bench ({now}, {os.cpu_count()} cores)", "",
              "smartlua runs with its default settings (`smartlead.client()`, `client:each` without options; "
              "no config file, no remembered limits); the baselines are sequential Python (requests) and Node "
              "(fetch) scripts that sleep on 429 as the server asks. Each cell: median wall time over "
              "interleaved rounds = median ratio to the floor, the least time that server's windows, the "
              "latency, the mock's own time per answer and smartlua's default concurrency allow for the "
              "requests the work needs (`floor_seconds` in bench/run.py). The mock answers one request at a "
              "time; its time per answer is measured before each workload (`measure_service`): "
              + "; ".join(f"{w} {p * 1000:.1f} ms a page" + (f", {u * 1000:.2f} ms an update" if u else "")
                          for w, (p, u) in service_note.items()) + ". "
              "429s: the most in any round, reaching the script / answered by the server (from the mock's log).",
              f"smartlua build: {build_label(client_probe)}.",
              "Rounds: " + ", ".join(f"{w} {r}" for w, (_, r) in plan_used.items()) + ".", ""]
    others = [c for c in clients if c != "smartlua"]
    matrix = [w for w in plan_used if w not in ("W6", "SNAP")]
    if matrix:
        lines += matrix_lines(results, clients, others, plan_used, matrix)
    if "W6" in plan_used:
        e, a = results.get(("W6", "50/s", "each")), results.get(("W6", "50/s", "apply"))
        lines += ["", f"W6 {WORKLOADS['W6']['title']}, server 50/s: {MODEL_NOTES['50/s']}; "
                      f"{requests_of(WORKLOADS['W6'])} requests, floor {fmt_s(med(e or a, 'floor'))} s.", "",
                  "| smartlua | wall | sent | CPU s | peak RSS MB | 429s script / server |", "|---|---:|---|---:|---:|---|"]
        for name, runs in (("script through `client:each`", e), ("`smartlua apply PLAN`", a)):
            if not runs:
                continue
            g = good(runs)
            sent = f"{g[-1].get('gets')} GET + {g[-1].get('posts')} POST" if g else "—"
            lines.append(f"| {name} | {cell(runs)} | {sent} | {fmt_s(med(runs, 'cpu'))} | "
                         f"{fmt_s(med(runs, 'rss_mb'))} | {n429(runs, 'seen_429')} / {n429(runs, 'server_429')} |")
    lines += fleet_lines(results, fleet_res)
    lines += json_lines(json_res)
    lines += ["", "| target | measured | result |", "|---|---|---|"]
    for row in targets(results, plan_used, fleet_res):
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if failures:
        lines.append(f"Correctness: {len(failures)} FAILED check(s):")
        for w, s, c, rep, p in failures:
            lines.append(f"- {w} {s} {c} round {rep}: {p}")
    else:
        lines.append("Correctness: every check passed (W1/W4/SNAP counts agree with the mock's state; every update "
                     "set in /__mock/state and accepted exactly once in the mock's log)."
                     if results else "Correctness: no workload ran.")
    return "\n".join(lines) + "\n"


def fleet_lines(results, fleet_res):
    snap = results.get(("SNAP", "50/s", "smartlua"))
    if not snap and not fleet_res:
        return []
    out = ["", "| fleet memory | figure |", "|---|---|"]
    if snap:
        g = good(snap)
        n = WORKLOADS["SNAP"]["fleet"]
        if g:
            r = g[-1]
            out.append(f"| snapshot of {n:,} accounts (`smartlead.snapshot`, server 50/s, sequential by design) | "
                       f"{r.get('requests')} requests (floor ceil(N/100) = {-(-n // PAGE)}, +1 ending page when N is "
                       f"a multiple of 100, +1 the campaign list); {cell(snap)} of its floor |")
            if r.get("db_bytes"):
                out.append(f"| database growth, one snapshot of {n:,} accounts | {r['db_bytes'] / 1e6:.1f} MB "
                           f"({r['db_bytes'] // n} bytes an account) |")
        else:
            out.append(f"| snapshot of {n:,} accounts | FAILED |")
    if fleet_res:
        f = fleet_res
        out += [f"| `bench/fleet_bench.lua` {f['accounts']:,} accounts x {f['days']} days: one day written | "
                f"{f['write_avg']:.2f} s average, {f['write_worst']:.2f} s worst |",
                f"| database growth per daily snapshot (generated history) | {f['file_bytes'] / f['days'] / 1e6:.1f} MB "
                f"({f['bytes_per_row']} bytes an account-day; {f['file_bytes'] / 1e6:.0f} MB for {f['days']} days) |",
                f"| {f['days']}-day trend query over {f['accounts']:,} accounts (target < 1 s) | {f['trend_s']:.2f} s |",
                f"| every signal over every account, 15-day / 30-day window | {f['signals15_s']:.1f} s / "
                f"{f['signals30_s']:.1f} s |", f"| diff since yesterday | {f['diff_s']:.2f} s |"]
    return out


def json_lines(res):
    if res is None:
        return []
    return ["", "| JSON (smartlead.json, lua-cjson behind the layer), one listing page of 100 accounts "
            f"({res['bytes'] / 1024:.0f} KB) | us per page |", "|---|---:|",
            f"| decode | {res['decode_us']:.0f} |", f"| encode | {res['encode_us']:.0f} |",
            "", f"Median of {res['rounds']} rounds (`build/smartlua bench/json_page.lua`)."]


def targets(results, plan_used, fleet_res):
    rows = []

    def verdict(ok):
        return "not measured" if ok is None else ("PASS" if ok else "miss")

    cells = [(w, s) for w, (servers, _) in plan_used.items() if w not in ("W6", "SNAP") for s in servers
             if good(results.get((w, s, "smartlua")))]
    if cells:
        # where the windows hold nothing back and there is no latency (W4 on the generous server)
        # there is no computed floor: the fastest baseline's time stands in for it (the mock's own
        # work is in it, so it is above the true floor)
        over, stand_in = [], []
        for w, s in cells:
            x = ratio_med(results[(w, s, "smartlua")])
            if x is None:
                best = [med(results.get((w, s, c)), "wall") for c in CLIENTS if c != "smartlua"]
                best = min([b for b in best if b] or [None]) if any(best) else None
                if best:
                    x = med(results[(w, s, "smartlua")], "wall") / best
                    stand_in.append(f"{w} {s}")
            if x is not None:
                over.append((w, s, x))
        bad = [f"{w} {s} {x:.2f}x" for w, s, x in over if x > 1.10]
        rows.append(["every workload, every model, default settings: <= 1.10x its floor",
                     f"{len(over) - len(bad)} of {len(over)} within" + (f"; over: {', '.join(bad)}" if bad else "") +
                     (f" ({', '.join(stand_in)}: no floor, x the fastest baseline)" if stand_in else ""),
                     verdict(not bad if over else None)])
        allr = [r for w, s in cells for r in good(results[(w, s, "smartlua")])]
        seen = sum(r.get("seen_429") or 0 for r in allr)
        rows.append(["0 429s reach the script (smartlua, every run)", f"{seen} in {len(allr)} runs", verdict(seen == 0)])
        hdr = [(w, s, r) for w, s in cells if s != "silent" for r in good(results[(w, s, "smartlua")])]
        srv = sum(r.get("server_429") or 0 for _, _, r in hdr)
        where = sorted({f"{w} {s}" for w, s, r in hdr if r.get("server_429")})
        rows.append(["0 server 429s where the server sends headers (smartlua; all but silent)",
                     f"{srv} in {len(hdr)} runs" + (f" ({', '.join(where)})" if where else ""),
                     verdict(srv == 0 if hdr else None)])
    w1 = results.get(("W1", "generous", "smartlua"))
    if w1:
        t = med(w1, "wall")
        rows.append(["fleet scan of 5,000 accounts at 50 ms, server advertising 300/min: <= 0.5 s",
                     "FAILED" if t is None else f"{t:.2f} s", verdict(None if t is None else t <= 0.5)])
    w5 = results.get(("W5", "50/s", "smartlua"))
    if w5:
        x = ratio_med(w5)
        g = good(w5)
        sent = f", sent {g[-1].get('gets')} GET + {g[-1].get('posts')} POST" if g else ""
        rows.append(["300-account update by id at 50/s: <= 1.10x the floor of 300 writes + 3 list pages",
                     f"{cell(w5)}{sent}", verdict(None if x is None else x <= 1.10)])
    e, a = med(results.get(("W6", "50/s", "each")), "wall"), med(results.get(("W6", "50/s", "apply")), "wall")
    if e or a:
        rows.append(["apply of a 2,000-change plan: within 1.05x of the same changes through each",
                     f"apply {fmt_s(a)} s, each {fmt_s(e)} s" + (f" ({a / e:.2f}x)" if a and e else ""),
                     verdict(None if not (a and e) else a <= 1.05 * e)])
    if fleet_res:
        rows.append([f"{fleet_res['days']}-day trend query over {fleet_res['accounts']:,} accounts: < 1 s",
                     f"{fleet_res['trend_s']:.2f} s", verdict(fleet_res["trend_s"] < 1)])
    return [[name, measured, ok] for name, measured, ok in rows]


# ------------------------------------------------------------------------------ probes

PROBE_MOCK = """local ok, l = pcall(require, "smartlead.mock.limiter")
io.write(require("smartlead.json").encode({ presets = ok and l.PRESETS or false }), "\\n")
"""
PROBE_CLIENT = """local smartlead = require "smartlead"
local ok, config = pcall(require, "smartlead.config")
local c = smartlead.client { api_key = "probe-0000000000000000", base_url = "http://127.0.0.1:9/api/v1" }
io.write(smartlead.json.encode({ defaults = ok and config.DEFAULTS or {}, rate_budget = c.rate_budget ~= nil }), "\\n")
"""


def probe(binary, text, workdir):
    path = os.path.join(workdir, "probe.lua")
    with open(path, "w") as f:
        f.write(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTLUA_") and not k.startswith("SMARTLEAD_")}
    env["XDG_CONFIG_HOME"] = workdir
    r = subprocess.run([binary, path], capture_output=True, text=True, timeout=60, env=env, cwd=workdir)
    if r.returncode != 0:
        sys.exit(f"{binary} {path}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ main

def run_all(only, clients, models, repeat, key, workdir, results, counter, windows, defaults, plan_used):
    """Every workload asked for, each on its servers; plan_used[w] = (servers, rounds)."""
    for w in [w for w in only if w in WORKLOADS]:
        spec = WORKLOADS[w]
        servers = [s for s in spec["servers"] if not models or s in models]
        if not servers:
            continue
        wc = spec.get("clients") or clients  # W6 and SNAP are smartlua's alone
        if spec.get("clients") and "smartlua" not in clients:
            continue
        plan_used[w] = (servers, int(repeat) if repeat else spec["reps"])
        sub = os.path.join(workdir, w)
        os.mkdir(sub)
        try:
            run_workload(w, spec, wc, servers, plan_used[w][1], key, sub, results, counter, windows, defaults)
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:  # the mock itself failed
            failures.append((w, "-", "mock", 0, str(e)))
            log(f"  {w}: {e}")


def main():
    everything = list(WORKLOADS) + ["FLEET", "JSON"]
    only = [w.strip() for w in os.environ.get("BENCH_ONLY", "").split(",") if w.strip()] or everything
    clients = [c.strip() for c in os.environ.get("BENCH_CLIENTS", "").split(",") if c.strip()] or list(CLIENTS)
    models = [m.strip() for m in os.environ.get("BENCH_MODELS", "").split(",") if m.strip()]
    for name in only:
        if name not in everything:
            sys.exit(f"unknown workload {name} (BENCH_ONLY: {', '.join(everything)})")
    for c in clients:
        if c not in CLIENTS:
            sys.exit(f"unknown client {c} (BENCH_CLIENTS)")
    for m in models:
        if m not in SERVERS:
            sys.exit(f"unknown server {m} (BENCH_MODELS: {', '.join(SERVERS)})")
    for b in {SMARTLUA, MOCK_BIN}:
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} is missing: run `make all` first")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} is missing: apt-get install time (make bench does)")
    repeat = os.environ.get("BENCH_REPEAT")
    key = "bench-" + secrets.token_hex(12)
    results, counter = {}, [0]
    started = time.monotonic()
    json_res = fleet_res = None
    with tempfile.TemporaryDirectory(prefix="smartlua-bench-") as workdir:
        presets = probe(MOCK_BIN, PROBE_MOCK, workdir)["presets"]
        if not presets:
            sys.exit(f"{MOCK_BIN} has no mock rate models (smartlead.mock.limiter): set BENCH_MOCK to a newer build")
        client_probe = probe(SMARTLUA, PROBE_CLIENT, workdir)
        defaults = {"concurrency": int(client_probe["defaults"].get("concurrency") or 8)}
        windows = {m: presets[m]["windows"] for m in MODELS}
        windows["50/s"] = SERVERS["50/s"]["rate_limit"]
        plan_used = {}
        try:
            run_all(only, clients, models, repeat, key, workdir, results, counter, windows, defaults, plan_used)
        except Exception as e:  # a bug in this runner: keep what was measured, and say so
            failures.append(("bench", "-", "run.py", 0, f"{type(e).__name__}: {e}"))
            log(f"run.py failed: {type(e).__name__}: {e}")
            traceback.print_exc()
        if "FLEET" in only:
            fleet_res = run_script("FLEET", [SMARTLUA, FLEET_SCRIPT, os.environ.get("BENCH_FLEET_ACCOUNTS", "50000"),
                                             os.environ.get("BENCH_FLEET_DAYS", "90")], 3600)
        if "JSON" in only:
            json_res = run_script("JSON", [SMARTLUA, JSON_SCRIPT], 300)
    text = report(results, clients, plan_used, client_probe, json_res, fleet_res)
    text += f"\nTotal bench time {time.monotonic() - started:.0f} s.\n"
    print(text, end="")
    with open(os.path.join(ROOT, "bench", "results.md"), "w") as f:
        f.write(text)
    log(f"written to bench/results.md; {'correctness FAILED' if failures else 'all correctness checks passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
