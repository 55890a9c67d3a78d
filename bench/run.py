#!/usr/bin/env python3
"""`make bench`: smartlua against the baselines a user would write today, on the mock server.

    python3 bench/run.py            # every workload, 3 or 5 repetitions each, then JSON
    BENCH_REPEAT=1 python3 bench/run.py
    BENCH_ONLY=W1,W3 BENCH_CLIENTS=smartlua,node python3 bench/run.py
    BENCH_ONLY=JSON python3 bench/run.py   # only the JSON micro-benchmark (bench/json_page.lua)

Each workload gets its own `smartlua mock` process (so a client's CPU and memory are measured
alone); before every client run the mock is reset. Repetitions are interleaved (the client order
rotates each round). Wall time is measured here; user+sys CPU and peak RSS by GNU time.
Prints progress on stderr, the table of medians on stdout and into bench/results.md.
Exits 1 only when a correctness check fails (a client crashed or timed out, a wrong count, a
write missing or applied twice); targets that are missed are shown, not fatal.
Python 3 standard library only.
"""
import json
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
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMARTLUA = os.environ.get("SMARTLUA", os.path.join(ROOT, "build", "smartlua"))
PYTHON = os.environ.get("BENCH_PYTHON", "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3")
NODE = os.environ.get("BENCH_NODE", shutil.which("node") or "node")
# GNU time measures the client from a small parent: a child forked from this runner would carry
# the runner's own peak RSS in its ru_maxrss (the high-water mark survives exec).
GNU_TIME = os.environ.get("BENCH_TIME", "/usr/bin/time")
USER_ID = 1001  # the fixture's default user, whose key the clients use
FIXTURE_ACCOUNTS = 260  # user 1001's accounts in spec/fixtures/seed.json

CLIENTS = {
    "smartlua": lambda w: [SMARTLUA, os.path.join(ROOT, "bench", "workloads.lua"), w],
    "python": lambda w: [PYTHON, os.path.join(ROOT, "bench", "baseline.py"), w],
    "node": lambda w: [NODE, os.path.join(ROOT, "bench", "baseline.mjs"), w],
}

# fleet: user 1001's accounts; floor: the least wall time the work allows (None: no floor).
WORKLOADS = {
    "W1": dict(title="fleet scan: list 5,000 accounts, 50 ms latency", fleet=5000,
               knobs={"latency_ms": 50}, reps=5, timeout=30,
               floor=-(-51 // 8) * 0.05, floor_note="51 pages / 8 at a time x 50 ms"),
    "W2": dict(title="bulk update: 1,000 accounts, 50 ms latency", fleet=5000, updates=1000,
               knobs={"latency_ms": 50}, reps=3, timeout=150,
               floor=1000 / 8 * 0.05, floor_note="1000 / 8 x 50 ms"),
    "W3": dict(title="rate-limited: 500 updates, server allows 50/s", fleet=5000, updates=500,
               knobs={"rate_limit": {"requests": 50, "per": 1, "retry_after": True}}, reps=3, timeout=60,
               floor=500 / 50, floor_note="500 / 50 per s (a partial first window can save up to 1 s)"),
    "W4": dict(title="cost: list and filter 50,000 accounts, no latency", fleet=50000,
               knobs={}, reps=3, timeout=90, floor=None, floor_note=""),
}

failures = []  # correctness failures: (workload, client, rep, message)
JSON_SCRIPT = os.path.join(ROOT, "bench", "json_page.lua")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the mock server

class Mock:
    """One `smartlua mock` process with its knobs, and its admin API."""

    def __init__(self, extra, knobs, key, workdir):
        self.knobs_file = os.path.join(workdir, "knobs.json")
        with open(self.knobs_file, "w") as f:
            json.dump(knobs, f)
        self.err = open(os.path.join(workdir, "mock.stderr"), "w+")
        env = dict(os.environ, SMARTLEAD_API_KEY=key)
        self.proc = subprocess.Popen(
            [SMARTLUA, "mock", "--port", "0", "--extra-accounts", str(extra), "--knobs", self.knobs_file],
            stdout=subprocess.PIPE, stderr=self.err, env=env, start_new_session=True)
        line = self._first_line(deadline=time.monotonic() + 120)
        m = re.search(r"(http://127\.0\.0\.1:\d+)/api/v1", line)
        if not m:
            self.stop()
            self.err.seek(0)
            raise RuntimeError(f"mock did not start: {line!r} {self.err.read()[-2000:]}")
        self.admin_base = m.group(1)
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


# ------------------------------------------------------------------------------ one client run

def run_client(cmd, env, timeout, workdir, tag):
    """Runs cmd under GNU time; returns dict(wall, cpu, rss_mb, rc, stdout, stderr, timed_out)."""
    out_path, err_path = os.path.join(workdir, tag + ".out"), os.path.join(workdir, tag + ".err")
    time_path = os.path.join(workdir, tag + ".time")
    with open(out_path, "w") as out, open(err_path, "w") as err:
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
    if "status" not in box or timed_out:
        return dict(wall=float(timeout), cpu=0.0, rss_mb=0.0, rc=-9, stdout=stdout, stderr=stderr, timed_out=True)
    try:
        with open(time_path) as f:
            user, system, rss_kb = f.read().split()[-3:]
        cpu, rss_mb = float(user) + float(system), int(rss_kb) / 1024.0
    except (OSError, ValueError):
        cpu, rss_mb = 0.0, 0.0
    return dict(wall=box["end"] - start, cpu=cpu, rss_mb=rss_mb,
                rc=os.waitstatus_to_exitcode(box["status"]), stdout=stdout, stderr=stderr, timed_out=timed_out)


def parse_result(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            try:
                return json.loads(line[7:])
            except ValueError:
                return None
    return None


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


def check_updates(mock, ids, value, exactly_once):
    """Problems with the writes (empty list: all good), and the server's 429 count."""
    problems = []
    state = mock.admin("GET", "state")
    by_id = {a["id"]: a for a in state["accounts"]}
    wrong = [i for i in ids if by_id.get(i, {}).get("message_per_day") != value]
    if wrong:
        problems.append(f"{len(wrong)} of {len(ids)} accounts lack max_email_per_day={value} (e.g. {wrong[:5]})")
    entries = mock.admin("GET", "log")
    server_429 = sum(1 for e in entries if e.get("status") == 429)
    ok_posts = {}
    for e in entries:
        m = UPDATE_PATH.match(e.get("path", ""))
        if e.get("method") == "POST" and m and e.get("status") == 200:
            ok_posts[int(m.group(1))] = ok_posts.get(int(m.group(1)), 0) + 1
    if exactly_once:
        want = set(ids)
        twice = [i for i, n in ok_posts.items() if n != 1]
        missing = [i for i in ids if i not in ok_posts]
        extra = [i for i in ok_posts if i not in want]
        if twice or missing or extra:
            problems.append(f"not exactly once: {len(twice)} applied twice or more, {len(missing)} never, "
                            f"{len(extra)} not asked for")
        if entries and entries[0].get("seq") != 1:
            problems.append("the request log was trimmed; raise log_limit")
    return problems, server_429


def check_run(w, spec, res, run, mock, ctx, value):
    """Correctness of one run: a list of problems, plus extra facts for the table."""
    if run["timed_out"]:
        return [f"timed out after {spec['timeout']} s"], {}
    if run["rc"] != 0:
        return [f"exit {run['rc']}: {run['stderr'].strip()[-600:]}"], {}
    if res is None:
        return ["no RESULT line on stdout"], {}
    facts = {}
    if w == "W1":
        if res.get("accounts") != spec["fleet"]:
            return [f"{res.get('accounts')} distinct accounts, expected {spec['fleet']}"], facts
        facts["note"] = f"{res['accounts']} accounts"
    elif w in ("W2", "W3"):
        problems, server_429 = check_updates(mock, ctx["ids"], value, exactly_once=(w == "W3"))
        if res.get("updated") != len(ctx["ids"]):
            problems.append(f"script reports {res.get('updated')} updates, expected {len(ctx['ids'])}")
        facts.update(server_429=server_429, seen_429=res.get("seen_429", 0))
        facts["note"] = f"{len(ctx['ids'])} applied" + (
            f", 429s: server {server_429}, script {res.get('seen_429', 0)}" if w == "W3" else "")
        return problems, facts
    elif w == "W4":
        problems = []
        if res.get("accounts") != spec["fleet"]:
            problems.append(f"{res.get('accounts')} accounts seen, expected {spec['fleet']}")
        if res.get("weak_gmail") != ctx["weak_gmail"]:
            problems.append(f"counted {res.get('weak_gmail')} weak Gmail accounts, the state says {ctx['weak_gmail']}")
        facts["note"] = f"{res.get('weak_gmail')} weak Gmail"
        return problems, facts
    return [], facts


# ------------------------------------------------------------------------------ a workload

def prepare(w, spec, mock, workdir):
    """Checks the fleet and picks the work: ids for updates, the expected W4 count."""
    state = mock.admin("GET", "state")
    own = sorted(a["id"] for a in state["accounts"] if a.get("user_id") == USER_ID)
    if len(own) != spec["fleet"]:
        raise RuntimeError(f"{w}: the mock holds {len(own)} accounts of user {USER_ID}, expected {spec['fleet']}")
    ctx = {}
    if "updates" in spec:
        ctx["ids"] = own[:spec["updates"]]
        ctx["ids_file"] = os.path.join(workdir, "ids.txt")
        with open(ctx["ids_file"], "w") as f:
            f.write("\n".join(map(str, ctx["ids"])) + "\n")
    if w == "W4":
        ctx["weak_gmail"] = sum(1 for a in state["accounts"] if a.get("user_id") == USER_ID
                                and a.get("type") == "GMAIL" and (reputation(a) is not None and reputation(a) < 90))
    return ctx


def run_workload(w, spec, clients, reps, key, workdir, results, counter):
    log(f"== {w}: {spec['title']} (mock with {spec['fleet'] - FIXTURE_ACCOUNTS} extra accounts, "
        f"knobs {json.dumps(spec['knobs'])}, {reps} rounds)")
    mock = Mock(spec["fleet"] - FIXTURE_ACCOUNTS, spec["knobs"], key, workdir)
    try:
        cfg = mock.admin("GET", "config")
        for k, v in spec["knobs"].items():
            if cfg.get(k) != v:
                raise RuntimeError(f"{w}: mock knob {k} is {cfg.get(k)!r}, wanted {v!r}")
        ctx = prepare(w, spec, mock, workdir)
        gave_up = set()  # a client that timed out is not run again on this workload (bounded time)
        for rep in range(reps):
            order = clients[rep % len(clients):] + clients[:rep % len(clients)]
            for c in order:
                if c in gave_up:
                    continue
                counter[0] += 1
                value = 1000 + counter[0]  # a new max_email_per_day every run
                mock.admin("POST", "reset")
                # smartlua journals every write by default (that is part of what is measured);
                # the journals go to the bench's scratch dir, not the user's home
                env = dict(os.environ, SMARTLEAD_API_KEY=key, SMARTLEAD_BASE_URL=mock.url,
                           BENCH_EXPECT=str(spec["fleet"]), BENCH_VALUE=str(value),
                           XDG_STATE_HOME=os.path.join(workdir, "state"))
                if "ids_file" in ctx:
                    env["BENCH_IDS_FILE"] = ctx["ids_file"]
                run = run_client(CLIENTS[c](w), env, spec["timeout"], workdir, f"{w}-{c}-{rep}")
                res = parse_result(run["stdout"])
                problems, facts = check_run(w, spec, res, run, mock, ctx, value)
                run.update(facts, result=res, problems=problems)
                results.setdefault((w, c), []).append(run)
                status = "ok" if not problems else "FAILED: " + "; ".join(problems)
                log(f"  [{w} {rep + 1}/{reps}] {c:8s} {run['wall']:7.2f} s wall {run['cpu']:6.2f} s cpu "
                    f"{run['rss_mb']:6.1f} MB  {facts.get('note', '')}  {status}")
                for p in problems:
                    failures.append((w, c, rep + 1, p))
                if run["timed_out"]:
                    gave_up.add(c)
                    log(f"  [{w}] {c} timed out: not run again on {w}")
    finally:
        mock.stop()


# ------------------------------------------------------------------------------ JSON cost

def json_page():
    """bench/json_page.lua in smartlua: decode and encode of one 100-account listing page,
    microseconds per page (median of its rounds); None when it failed."""
    log("== JSON: decode and encode of one 100-account page (bench/json_page.lua)")
    try:
        run = subprocess.run([SMARTLUA, JSON_SCRIPT], capture_output=True, text=True, timeout=300, cwd=ROOT)
    except subprocess.TimeoutExpired:
        failures.append(("JSON", "smartlua", 1, "timed out after 300 s"))
        return None
    res = parse_result(run.stdout)
    if run.returncode != 0 or not res:
        failures.append(("JSON", "smartlua", 1, f"exit {run.returncode}: {run.stderr.strip()[-600:]}"))
        return None
    log(f"  decode {res['decode_us']:.0f} us, encode {res['encode_us']:.0f} us per page ({res['bytes']} bytes)")
    return res


def json_lines(res):
    if res is None:
        return []
    return ["", "| JSON (smartlead.json, lua-cjson behind the layer), one listing page of 100 accounts "
            f"({res['bytes'] / 1024:.0f} KB) | us per page |", "|---|---:|",
            f"| decode | {res['decode_us']:.0f} |", f"| encode | {res['encode_us']:.0f} |",
            "", f"Median of {res['rounds']} rounds (`build/smartlua bench/json_page.lua`)."]


# ------------------------------------------------------------------------------ the report

def med(runs, k):
    """Median over the runs that passed their checks; None when none did."""
    vals = [r[k] for r in runs or [] if not r["problems"]]
    return statistics.median(vals) if vals else None


def fmt_ratio(x):
    return "—" if x is None or x != x else f"{x:.2f}x"


def report(results, clients, reps_used, engine_flags, json_res=None):
    lines = []
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines.append(f"# smartlua bench ({now}, {os.cpu_count()} cores)")
    lines.append("")
    lines.append("Medians of interleaved runs; each workload against its own `smartlua mock`. "
                 "Ratios are baseline / smartlua (above 1: smartlua is faster, or cheaper); "
                 "`/ floor` is smartlua's wall time over the least the work allows.")
    eng = "concurrent engine (client:each)" if engine_flags and all(engine_flags) else \
        "sequential fallback (this build has no client:each)" if engine_flags and not any(engine_flags) else \
        "mixed" if engine_flags else "not run"
    lines.append(f"smartlua binary: `{os.path.relpath(SMARTLUA, ROOT)}`, ran with: {eng}. Rounds: " +
                 ", ".join(f"{w} {n}" for w, n in reps_used.items()) + ".")
    lines.append("")
    lines.append("| workload | client | wall s | CPU s | peak RSS MB | wall ratio | CPU ratio | RSS ratio | / floor | notes |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for w in reps_used:
        spec = WORKLOADS[w]
        sl = results.get((w, "smartlua"))
        for c in clients:
            runs = results.get((w, c))
            if not runs:
                continue
            wall, cpu, rss = med(runs, "wall"), med(runs, "cpu"), med(runs, "rss_mb")
            ratios = ["—", "—", "—"]
            if c != "smartlua" and wall is not None:
                ratios = [fmt_ratio(med(runs, k) / med(sl, k)) if med(sl, k) else "—" for k in ("wall", "cpu", "rss_mb")]
            floor = fmt_ratio(wall / spec["floor"]) + f" of {spec['floor']:.2f} s" \
                if c == "smartlua" and spec["floor"] and wall is not None else "—"
            bad = sum(1 for r in runs if r["problems"])
            good = [r for r in runs if not r["problems"]]
            notes = "; ".join(x for x in [good[-1].get("note", "") if good else "",
                                          f"{bad} of {len(runs)} runs FAILED" if bad else ""] if x)
            label = f"{w} {spec['title']}" if c == clients[0] else ""
            nums = " | ".join("FAILED" if v is None else f"{v:.{d}f}" for v, d in ((wall, 2), (cpu, 2), (rss, 1)))
            lines.append(f"| {label} | {c} | {nums} | " + " | ".join(ratios) + f" | {floor} | {notes} |")
    lines.extend(json_lines(json_res))
    lines.append("")
    lines.append("| target | measured | result |")
    lines.append("|---|---|---|")
    for row in targets(results):
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if failures:
        lines.append(f"Correctness: {len(failures)} FAILED check(s):")
        for w, c, rep, p in failures:
            lines.append(f"- {w} {c} round {rep}: {p}")
    else:
        lines.append("Correctness: every check passed (W1 distinct counts, W2/W3 values in /__mock/state, "
                     "W3 exactly one accepted POST per account, W4 counts agree with the state)."
                     if results else "Correctness: no workload ran.")
    return "\n".join(lines) + "\n"


def targets(results):
    rows = []

    def get(w, c, k):
        runs = results.get((w, c))
        return med(runs, k) if runs else None

    def verdict(ok):
        return "miss (nothing to compare)" if ok is None else ("PASS" if ok else "miss")

    def speedups(w, need):
        s = get(w, "smartlua", "wall")
        sp = {c: (get(w, c, "wall") / s if s and get(w, c, "wall") else None) for c in ("python", "node")}
        ok = None if s is None or None in sp.values() else all(v >= need for v in sp.values())
        return ", ".join(f"{c} {fmt_ratio(v)}" for c, v in sp.items()), ok

    def vs_floor(w, k):
        s, floor = get(w, "smartlua", "wall"), WORKLOADS[w]["floor"]
        if s is None:
            return "no successful smartlua run", None
        return f"{s:.2f} s = {s / floor:.2f}x", s <= k * floor

    if results.get(("W1", "smartlua")):
        rows.append(["W1 >= 4x faster than both baselines", *speedups("W1", 4)])
    if results.get(("W2", "smartlua")):
        rows.append(["W2 within 1.15x of the floor (6.25 s)", *vs_floor("W2", 1.15)])
        rows.append(["W2 >= 6x faster than both baselines", *speedups("W2", 6)])
    if results.get(("W3", "smartlua")):
        runs = [r for r in results[("W3", "smartlua")] if not r["problems"]]
        rows.append(["W3 within 1.10x of the rate floor (10 s)", *vs_floor("W3", 1.10)])
        seen = sum(r.get("seen_429", 0) or 0 for r in runs)
        server = statistics.median([r.get("server_429", 0) or 0 for r in runs]) if runs else 0
        rows.append(["W3 zero 429s reach the script",
                     f"script saw {seen} in {len(runs)} good runs; server sent {server:g} (median)",
                     seen == 0 if runs else None])
        w3_fail = [f for f in failures if f[0] == "W3"]
        rows.append(["W3 every write exactly once (all clients)",
                     "yes" if not w3_fail else f"{len(w3_fail)} failed check(s)", not w3_fail])
    if results.get(("W4", "smartlua")) and results.get(("W4", "node")):
        for k, what, unit in (("cpu", "CPU", "s"), ("rss_mb", "peak RSS", "MB")):
            a, b = get("W4", "smartlua", k), get("W4", "node", k)
            if a is None or b is None:
                rows.append([f"W4 at most half of Node's {what}", "no successful run to compare", None])
            else:
                rows.append([f"W4 at most half of Node's {what}", f"{a:.2f} {unit} vs {b:.2f} {unit} ({a / b:.2f})",
                             a <= 0.5 * b])
    return [[name, measured, verdict(ok)] for name, measured, ok in rows]


# ------------------------------------------------------------------------------ main

def main():
    only = [w.strip() for w in os.environ.get("BENCH_ONLY", "").split(",") if w.strip()] or list(WORKLOADS) + ["JSON"]
    clients = [c.strip() for c in os.environ.get("BENCH_CLIENTS", "").split(",") if c.strip()] or list(CLIENTS)
    for name in only:
        if name not in WORKLOADS and name != "JSON":
            sys.exit(f"unknown workload {name} (BENCH_ONLY: W1..W4, JSON)")
    with_json = "JSON" in only
    only = [w for w in only if w != "JSON"]
    for c in clients:
        if c not in CLIENTS:
            sys.exit(f"unknown client {c} (BENCH_CLIENTS)")
    if not os.access(SMARTLUA, os.X_OK):
        sys.exit(f"{SMARTLUA} is missing: run `make all` first")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} is missing: apt-get install time (make bench does)")
    repeat = os.environ.get("BENCH_REPEAT")
    reps_used = {w: int(repeat) if repeat else WORKLOADS[w]["reps"] for w in only}
    key = "bench-" + secrets.token_hex(12)
    results, counter = {}, [0]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smartlua-bench-") as workdir:
        for w in only:
            sub = os.path.join(workdir, w)
            os.mkdir(sub)
            try:
                run_workload(w, WORKLOADS[w], clients, reps_used[w], key, sub, results, counter)
            except (RuntimeError, OSError, ValueError) as e:  # the mock itself failed
                failures.append((w, "mock", 0, str(e)))
                log(f"  {w}: {e}")
    json_res = json_page() if with_json else None
    engine_flags = [bool((r.get("result") or {}).get("engine")) for (w, c), runs in results.items()
                    if c == "smartlua" for r in runs if r.get("result")]
    text = report(results, clients, reps_used, engine_flags, json_res)
    text += f"\nTotal bench time {time.monotonic() - started:.0f} s.\n"
    print(text, end="")
    with open(os.path.join(ROOT, "bench", "results.md"), "w") as f:
        f.write(text)
    log(f"written to bench/results.md; {'correctness FAILED' if failures else 'all correctness checks passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
