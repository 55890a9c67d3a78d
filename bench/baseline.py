#!/usr/bin/env python3
"""Baseline for `make bench`: the script a careful user writes today with python3-requests.

    SMARTLEAD_API_KEY=... SMARTLEAD_BASE_URL=... python3 bench/baseline.py W1|W2|W3|W4|W5

Sequential, one keep-alive requests.Session, a 429 answered by sleeping Retry-After (else until
X-RateLimit-Reset, a Unix time in seconds as SmartLead's rate-limit guide says, else 1 s) and
sending again. Same work and same RESULT line as bench/workloads.lua (BENCH_IDS_FILE,
BENCH_VALUE, BENCH_EXPECT as there); it keeps no before-values, so it lists nothing first.
"""
import json
import os
import sys
import time

import requests

BASE = os.environ.get("SMARTLEAD_BASE_URL", "https://server.smartlead.ai/api/v1").rstrip("/")
KEY = os.environ["SMARTLEAD_API_KEY"]
PAGE = 100
MAX_TRIES = 60
MAX_SLEEP = 120

session = requests.Session()
session.headers["User-Agent"] = "bench-baseline-python/1 requests/" + requests.__version__
seen_429 = 0


def wait_after_429(r):
    """Seconds to wait: Retry-After, else until X-RateLimit-Reset (Unix seconds), else 1."""
    retry_after = r.headers.get("Retry-After")
    if retry_after is not None:
        return float(retry_after)
    reset = r.headers.get("X-RateLimit-Reset")
    if reset is not None:
        return float(reset) - time.time()
    return 1.0


def call(method, path, params=None, body=None):
    """One API call; waits out 429s (bounded), raises on any other error."""
    global seen_429
    query = {"api_key": KEY, **(params or {})}
    for _ in range(MAX_TRIES):
        r = session.request(method, BASE + path, params=query, json=body, timeout=60)
        if r.status_code == 429:
            seen_429 += 1
            time.sleep(min(max(wait_after_429(r), 0.05), MAX_SLEEP))
            continue
        r.raise_for_status()
        return r.json()
    raise RuntimeError(f"{method} {path}: still rate limited after {MAX_TRIES} tries")


def accounts():
    """Every account, page by page, until the first short page."""
    offset = 0
    while True:
        page = call("GET", "/email-accounts/", {"offset": offset, "limit": PAGE})
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


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


def read_ids():
    with open(os.environ["BENCH_IDS_FILE"]) as f:
        return [int(line) for line in f if line.strip()]


def result(**fields):
    print("RESULT " + json.dumps(dict(fields, seen_429=seen_429)), flush=True)


def w1():
    fleet = {a["id"]: a for a in accounts()}
    expect = os.environ.get("BENCH_EXPECT")
    if expect and len(fleet) != int(expect):
        sys.exit(f"W1: expected {expect} distinct accounts, got {len(fleet)}")
    result(workload="W1", accounts=len(fleet))


def bulk_update(name):
    ids, value = read_ids(), int(os.environ["BENCH_VALUE"])
    for account_id in ids:
        call("POST", f"/email-accounts/{account_id}", body={"max_email_per_day": value})
    result(workload=name, updated=len(ids), value=value)


def w4():
    seen, weak = set(), 0
    for a in accounts():
        if a["id"] in seen:
            continue
        seen.add(a["id"])
        if a.get("type") == "GMAIL":
            rep = reputation(a)
            if rep is not None and rep < 90:
                weak += 1
    result(workload="W4", accounts=len(seen), weak_gmail=weak)


def main():
    workload = sys.argv[1] if len(sys.argv) > 1 else ""
    runs = {"W1": w1, "W4": w4, **{w: (lambda w=w: bulk_update(w)) for w in ("W2", "W3", "W5")}}
    if workload not in runs:
        sys.exit("usage: baseline.py W1|W2|W3|W4|W5")
    runs[workload]()


if __name__ == "__main__":
    main()
