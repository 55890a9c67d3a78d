// Baseline for `make bench`: the script a careful user writes today with Node 20's built-in fetch.
//
//   SMARTLEAD_API_KEY=... SMARTLEAD_BASE_URL=... node bench/baseline.mjs W1|W2|W3|W4|W5
//
// Sequential (one await after the other; fetch keeps connections alive), a 429 answered by
// sleeping Retry-After (else until X-RateLimit-Reset, a Unix time in seconds as SmartLead's
// rate-limit guide says, else 1 s) and sending again. Same work and same RESULT line as
// bench/workloads.lua (BENCH_IDS_FILE, BENCH_VALUE, BENCH_EXPECT as there); it keeps no
// before-values, so it lists nothing first.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const BASE = (process.env.SMARTLEAD_BASE_URL ?? "https://server.smartlead.ai/api/v1").replace(/\/+$/, "");
const KEY = process.env.SMARTLEAD_API_KEY;
const PAGE = 100;
const MAX_TRIES = 60;
const MAX_SLEEP = 120;
let seen429 = 0;

// Seconds to wait after a 429: Retry-After, else until X-RateLimit-Reset (Unix seconds), else 1.
function waitAfter429(res) {
  const retryAfter = res.headers.get("retry-after");
  if (retryAfter !== null) return Number(retryAfter);
  const reset = res.headers.get("x-ratelimit-reset");
  if (reset !== null) return Number(reset) - Date.now() / 1000;
  return 1;
}

// One API call; waits out 429s (bounded), throws on any other error.
async function call(method, path, { params = {}, body } = {}) {
  const url = new URL(BASE + path);
  url.searchParams.set("api_key", KEY);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const res = await fetch(url, {
      method,
      headers: { "content-type": "application/json", "user-agent": "bench-baseline-node/1" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    if (res.status === 429) {
      seen429++;
      await res.arrayBuffer(); // drain, so the connection is reused
      await sleep(Math.min(Math.max(waitAfter429(res), 0.05), MAX_SLEEP) * 1000);
      continue;
    }
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }
  throw new Error(`${method} ${path}: still rate limited after ${MAX_TRIES} tries`);
}

// Every account, page by page, until the first short page.
async function* accounts() {
  for (let offset = 0; ; offset += PAGE) {
    const page = await call("GET", "/email-accounts/", { params: { offset, limit: PAGE } });
    yield* page;
    if (page.length < PAGE) return;
  }
}

function reputation(account) {
  const v = account.warmup_details?.warmup_reputation;
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const n = parseFloat(v);
    return Number.isNaN(n) ? null : n;
  }
  return null;
}

const readIds = () =>
  readFileSync(process.env.BENCH_IDS_FILE, "utf8").split("\n").filter((l) => l.trim()).map(Number);

const result = (fields) => console.log("RESULT " + JSON.stringify({ ...fields, seen_429: seen429 }));

async function w1() {
  const fleet = new Map();
  for await (const a of accounts()) fleet.set(a.id, a);
  const expect = process.env.BENCH_EXPECT;
  if (expect && fleet.size !== Number(expect)) {
    throw new Error(`W1: expected ${expect} distinct accounts, got ${fleet.size}`);
  }
  result({ workload: "W1", accounts: fleet.size });
}

async function bulkUpdate(name) {
  const ids = readIds();
  const value = Number(process.env.BENCH_VALUE);
  for (const id of ids) await call("POST", `/email-accounts/${id}`, { body: { max_email_per_day: value } });
  result({ workload: name, updated: ids.length, value });
}

async function w4() {
  const seen = new Set();
  let weak = 0;
  for await (const a of accounts()) {
    if (seen.has(a.id)) continue;
    seen.add(a.id);
    if (a.type === "GMAIL") {
      const rep = reputation(a);
      if (rep !== null && rep < 90) weak++;
    }
  }
  result({ workload: "W4", accounts: seen.size, weak_gmail: weak });
}

const runs = { W1: w1, W4: w4 };
for (const w of ["W2", "W3", "W5"]) runs[w] = () => bulkUpdate(w);
const run = runs[process.argv[2]];
if (!run) {
  console.error("usage: node baseline.mjs W1|W2|W3|W4|W5");
  process.exit(2);
}
await run();
