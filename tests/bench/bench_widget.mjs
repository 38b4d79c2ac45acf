// The chat widget's weight and load time in Chromium (issue 15), beside a
// floor: the same page loading a 100-byte cross-origin script that appends
// one element. Rounds alternate widget / floor in fresh browser contexts
// (no cache). Figures: widget.js bytes raw and gzipped (against the 15 KB
// budget); time from navigation start to the widget mounted (its bubble
// built) and to the floor's element; time from a click on the bubble to the
// first agent message (config, session, history and SSE against the
// protocol stand-in on loopback); and from the script's last byte to the
// mounted element (parse, compile, run), widget beside floor.
//   node tests/bench/bench_widget.mjs --smoke|--full   (BENCH_OUT, WIDGET_JS, CHROMIUM)
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { startStandin } from "../e2e/standin_host.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(join(here, "../e2e/package.json"))("playwright-core");
const full = process.argv.includes("--full");
const ROUNDS = full ? 40 : 2;
const WIDGET_JS = process.env.WIDGET_JS || resolve(here, "../../admin/widget/dist/widget.js");
const BUDGET = 15 * 1024;

const js = readFileSync(WIDGET_JS);
const size = { raw: js.length, gzip: gzipSync(js, { level: 9 }).length, budget_gzip: BUDGET };

const listen = (s, h) => new Promise((r) => s.listen(0, h, () => r(`http://${h}:${s.address().port}`)));
const FLOOR_JS = 'var d=document.createElement("div");d.id="agenthost-chat";document.body.appendChild(d);';
const cdn = createServer((_, res) => {
  res.writeHead(200, { "Content-Type": "text/javascript", "Cache-Control": "no-store" });
  res.end(FLOOR_JS);
});
let siteOrigin;
const host = await startStandin(WIDGET_JS, () => siteOrigin);
const cdnOrigin = await listen(cdn, "127.0.0.1");
const site = createServer((req, res) => {
  const floor = req.url.includes("floor");
  const src = floor ? `${cdnOrigin}/floor.js` : `${host.origin}/chat/widget.js`;
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>A shop</h1><script src="${src}" data-widget="faq" async></script></body></html>`);
});
siteOrigin = await listen(site, "localhost");

// Records when #agenthost-chat enters the page: the observer runs right
// after the task that mounted it (the widget builds its UI synchronously).
const probe = () => {
  new MutationObserver((_, o) => {
    if (document.getElementById("agenthost-chat")) {
      window.__mounted = performance.now();
      o.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
};

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true });
const t = { widget_mount_ms: [], floor_mount_ms: [], widget_exec_ms: [], floor_exec_ms: [], open_to_first_message_ms: [] };
async function round(kind) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.addInitScript(probe);
  await page.goto(`${siteOrigin}/${kind === "floor" ? "floor" : ""}`);
  await page.waitForFunction(() => window.__mounted !== undefined, null, { timeout: 20000 });
  const [mounted, fetched] = await page.evaluate(() => [
    window.__mounted,
    performance.getEntriesByType("resource").find((e) => /(widget|floor)\.js$/.test(e.name)).responseEnd,
  ]);
  // From the script's last byte to the mounted element: its parse, compile and run.
  if (kind === "floor") {
    t.floor_mount_ms.push(mounted);
    t.floor_exec_ms.push(mounted - fetched);
  } else {
    t.widget_mount_ms.push(mounted);
    t.widget_exec_ms.push(mounted - fetched);
    const t0 = await page.evaluate(() => {
      const sr = document.getElementById("agenthost-chat").shadowRoot;
      const t0 = performance.now();
      window.__first = new Promise((r) => {
        const o = new MutationObserver(() => {
          if (sr.querySelector(".msg.agent")) {
            o.disconnect();
            r(performance.now());
          }
        });
        o.observe(sr, { childList: true, subtree: true });
      });
      sr.querySelector(".bubble").click();
      return t0;
    });
    const first = await page.evaluate(() => window.__first);
    t.open_to_first_message_ms.push(first - t0);
  }
  await ctx.close();
}
for (let i = 0; i < ROUNDS; i++) {
  await round("widget");
  await round("floor");
}
await browser.close();
await host.close();
site.closeAllConnections?.();
site.close();
cdn.close();

const q = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
};
const stat = (a) => ({ p50: q(a, 0.5), p95: q(a, 0.95), n: a.length });
const out = {
  mode: full ? "full" : "smoke",
  chromium: browser.version(),
  size,
  widget_mount_ms: stat(t.widget_mount_ms),
  floor_mount_ms: stat(t.floor_mount_ms),
  mount_ratio_p50: +(q(t.widget_mount_ms, 0.5) / q(t.floor_mount_ms, 0.5)).toFixed(2),
  widget_exec_ms: stat(t.widget_exec_ms),
  floor_exec_ms: stat(t.floor_exec_ms),
  open_to_first_message_ms: stat(t.open_to_first_message_ms),
};
if (!full) console.log("smoke run: proves the benchmark works; these figures are not measurements");
console.log(`widget.js            ${size.raw} B raw, ${size.gzip} B gzipped (${((100 * size.gzip) / BUDGET).toFixed(0)} % of the ${BUDGET} B budget)`);
console.log(`mounted after nav    widget p50 ${out.widget_mount_ms.p50} ms p95 ${out.widget_mount_ms.p95} ms | floor p50 ${out.floor_mount_ms.p50} ms p95 ${out.floor_mount_ms.p95} ms | ratio ${out.mount_ratio_p50}`);
console.log(`script byte → mounted widget p50 ${out.widget_exec_ms.p50} ms p95 ${out.widget_exec_ms.p95} ms | floor p50 ${out.floor_exec_ms.p50} ms p95 ${out.floor_exec_ms.p95} ms`);
console.log(`open → first message p50 ${out.open_to_first_message_ms.p50} ms p95 ${out.open_to_first_message_ms.p95} ms (${ROUNDS} rounds)`);
if (process.env.BENCH_OUT) writeFileSync(join(process.env.BENCH_OUT, "widget.json"), JSON.stringify(out, null, 2) + "\n");
if (size.gzip > BUDGET) {
  console.error("widget.js is over its size budget");
  process.exit(1);
}
