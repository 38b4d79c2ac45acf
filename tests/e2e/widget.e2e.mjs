// The chat widget in a real browser: Debian's chromium, headless, driven by
// playwright-core, one browser shared by every case. A test page on one
// loopback origin embeds widget.js from the chat host on another: the REAL
// agenthost (AH_HOST_BIN; real_host.mjs: the example Onboarding agent, an
// llm.chat agent against tests/fakes/fake_openai, an agent with script
// payloads). One case runs against the node stand-in (standin_host.mjs):
// the host dropping the event stream mid-conversation and the browser
// reconnecting with Last-Event-ID, which the real host cannot be made to
// do from outside without a restart (test_webchat covers the restart).
//   node widget.e2e.mjs   (env: AH_HOST_BIN, WIDGET_JS, E2E_ARTIFACTS, CHROMIUM)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStandin } from "./standin_host.mjs";
import { startRealHost } from "./real_host.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const WIDGET_JS = process.env.WIDGET_JS || resolve(here, "../../admin/widget/dist/widget.js");
const ARTIFACTS = process.env.E2E_ARTIFACTS || resolve(here, "../../build-test/e2e-artifacts");
const WAIT = { timeout: 20000 };
const HOST_BIN = process.env.AH_HOST_BIN || resolve(here, "../../build-test/agenthost");

let browser, host, standin, site, siteOrigin;

// The embedding site: /?widget=W[&csp=1][&lang=ru][&color=...][&standin=1]; no inline script or style.
function startSite() {
  const server = createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const q = (k) => u.searchParams.get(k);
    const h = q("standin") ? standin : host;
    const attrs = [`src="${h.origin}/chat/widget.js"`, `data-widget="${q("widget")}"`, "async"];
    if (q("color")) attrs.push(`data-color="${q("color")}"`);
    if (q("dlang")) attrs.push(`data-lang="${q("dlang")}"`);
    const headers = { "Content-Type": "text/html; charset=utf-8" };
    if (q("csp"))
      headers["Content-Security-Policy"] =
        `default-src 'none'; script-src ${h.origin}; connect-src ${h.origin}; ` +
        `img-src ${h.origin}; style-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; ` +
        "require-trusted-types-for 'script'";
    res.writeHead(200, headers);
    res.end(`<!doctype html><html lang="${q("lang") || "en"}"><head><meta charset="utf-8"><title>Shop</title>
<meta name="viewport" content="width=device-width,initial-scale=1"></head>
<body><h1>A shop</h1><p>Products and prices.</p><script ${attrs.join(" ")}></script></body></html>`);
  });
  return new Promise((r) => server.listen(0, "localhost", () => r(server)));
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The site's origin is http://localhost:<port>; the host's http://127.0.0.1:<other port>.
  site = await startSite();
  siteOrigin = `http://localhost:${site.address().port}`;
  standin = await startStandin(WIDGET_JS, () => siteOrigin);
  host = await startRealHost(HOST_BIN, WIDGET_JS, siteOrigin);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true });
});

after(async () => {
  await browser?.close();
  await host?.close();
  await standin?.close();
  site?.closeAllConnections?.();
  site?.close();
});

/** A page of the site with the widget, collecting page errors and CSP violations. */
async function open(query, ctxOptions = {}, init) {
  const ctx = await browser.newContext(ctxOptions);
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
  });
  if (init) await page.addInitScript(init);
  await page.goto(`${siteOrigin}/?${new URLSearchParams(query)}`);
  return { ctx, page, errors };
}

const agentSays = (page, text) => page.locator(".msg.agent", { hasText: text });
async function say(page, text) {
  await page.locator("textarea").fill(text);
  await page.locator("textarea").press("Enter");
  await page.locator(".msg.user:not(.pending)", { hasText: text }).last().waitFor(WAIT);
}
const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name + ".png") });

/** The example agent's onboarding, up to the summary. */
async function onboard(page) {
  await page.locator(".bubble").click();
  await say(page, "hi");
  await agentSays(page, "What should we call you?").waitFor(WAIT);
  await say(page, "Anna");
  await agentSays(page, "Anna, what is your work email?").waitFor(WAIT);
  await say(page, "anna@example.com");
  await agentSays(page, "What do you do?").waitFor(WAIT);
  await page.locator(".btns button", { hasText: "Development" }).click();
  await agentSays(page, "How many people are on your team?").waitFor(WAIT);
  await say(page, "5");
  await agentSays(page, "Thanks, Anna! Role: developer; team: 5 people.").waitFor(WAIT);
}

test("a visitor answers the onboarding agent's questions, taps a button, reloads and sees the history once", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.onboarding, color: "#00aa77" });
  await onboard(page);
  assert.equal(await page.locator(".btns a", { hasText: "Quick start" }).getAttribute("href"), "https://docs.example.com/en/quickstart", "a link button");
  assert.equal(await page.locator(".btns button:disabled").count(), 3, "a tapped button row is spent");
  assert.equal(await page.evaluate(() => window.AgentHostChat.mode()), "sse");
  assert.equal(await page.locator(".bubble").evaluate((b) => getComputedStyle(b).backgroundColor), "rgb(0, 170, 119)", "data-color themes it");
  await shot(page, "onboarding");
  const token = await page.evaluate((w) => localStorage.getItem("agenthost.chat." + w), host.widgets.onboarding);
  assert.ok(token, "the session token is kept in localStorage");

  await page.reload();
  await agentSays(page, "Thanks, Anna").waitFor(WAIT);
  assert.equal(await agentSays(page, "What should we call you?").count(), 1, "history shown once");
  assert.notEqual(await page.evaluate(() => document.activeElement?.id), "agenthost-chat", "the reopened panel leaves the page's focus alone");
  assert.equal(await page.locator(".msg.user", { hasText: /^Anna$/ }).count(), 1);
  const token2 = await page.evaluate((w) => localStorage.getItem("agenthost.chat." + w), host.widgets.onboarding);
  assert.equal(token2.split(".")[2], token.split(".")[2], "the same session (a fresh token)");
  await shot(page, "onboarding-reloaded");
  assert.deepEqual(errors, []);
  await ctx.close();
});

/** The faq agent (real host): the first message starts it, it asks. */
async function faqStarted(page) {
  await page.locator(".bubble").click();
  await say(page, "hi");
  await agentSays(page, "Ask me about refunds.").waitFor(WAIT);
}
const ANSWER = "The capital of the UK is London.";

// Found by running against the real host: the host kept a button press as a
// message with an empty text, so the widget's pending bubble (the label) was
// never confirmed; the engine now keeps the tapped button's label.
test("a tapped button's message is echoed with its label and confirmed", async () => {
  const { ctx, page } = await open({ widget: host.widgets.onboarding });
  try {
    await onboard(page);
    assert.equal(await page.locator(".msg.user.pending").count(), 0, "the tapped button's message confirmed");
  } finally {
    await ctx.close();
  }
});

test("an LLM answer streams token by token and the final message replaces the stream", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.faq });
  await faqStarted(page);
  await page.locator("textarea").fill("What is the capital?");
  await page.locator("textarea").press("Enter");
  // The fake model sends two tokens, then pauses 1.5 s before the rest: the
  // stream is on screen, as plain text, before the final message.
  const stream = page.locator(".msg.agent.stream", { hasText: "The" });
  await stream.waitFor(WAIT);
  assert.equal(await agentSays(page, ANSWER).count(), 0, "the answer is not there yet");
  await shot(page, "streaming");
  await page.locator(".msg.agent:not(.stream)", { hasText: ANSWER }).waitFor(WAIT);
  assert.equal(await page.locator(".msg.agent.stream").count(), 0, "the stream bubble is gone");
  assert.equal(await agentSays(page, ANSWER).count(), 1, "one answer, not the stream and the answer");
  await shot(page, "streamed");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("(stand-in) when the host drops the event stream the browser reconnects with Last-Event-ID and misses nothing", async () => {
  const { ctx, page, errors } = await open({ widget: standin.widgets.faq, standin: "1" });
  await page.locator(".bubble").click();
  await agentSays(page, "Ask me about refunds.").waitFor(WAIT);
  await say(page, "How do refunds work?");
  await page.locator(".msg.agent strong", { hasText: "5 business days" }).waitFor(WAIT);
  const link = page.locator(".msg.agent a", { hasText: "support" });
  assert.equal(await link.getAttribute("href"), "https://example.com/help");
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
  const before = standin.stats.lastEventIds.length;
  standin.dropStreams();
  await page.locator("textarea").fill("And exchanges?");
  await page.locator("textarea").press("Enter");
  await page.waitForFunction(() => document.querySelector("#agenthost-chat").shadowRoot.querySelectorAll(".msg.agent strong").length === 2, null, WAIT);
  assert.ok(standin.stats.lastEventIds.slice(before).some((id) => Number(id) > 0), "the reconnect said where it was");
  assert.equal(await page.locator(".msg.user", { hasText: "And exchanges?" }).count(), 1, "nothing twice");
  assert.deepEqual(errors, []);
  await ctx.close();
});

/** Attaches a file through the widget's clip button. */
async function attach(page, name) {
  const chooser = page.waitForEvent("filechooser", WAIT);
  await page.locator(".clip").click();
  await (await chooser).setFiles({ name, mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4 test") });
}

test("a visitor attaches a file: it is uploaded, sent, shown as a file link, and still there after a reload", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.faq });
  await faqStarted(page);
  assert.equal(await page.locator(".clip").getAttribute("aria-label"), "Attach a file");
  await attach(page, "receipt <b>1<b>.pdf");
  const link = page.locator(".msg.user:not(.pending) a.file", { hasText: "receipt <b>1<b>.pdf" });
  await link.waitFor(WAIT);
  assert.ok((await link.getAttribute("href")).startsWith(`${host.origin}/chat/${host.widgets.faq}/uploads/`));
  await page.reload();
  await link.waitFor(WAIT);
  assert.equal(await link.count(), 1, "once, from the history");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("a message arriving while the panel is closed shows an unread count on the bubble until it is opened", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.faq });
  await faqStarted(page);
  await page.locator("textarea").fill("What is the capital?");
  await page.locator("textarea").press("Enter");
  await page.keyboard.press("Escape"); // the model's answer comes 1.5 s later
  assert.equal(await page.locator(".panel").isHidden(), true);
  const badge = page.locator(".badge");
  await badge.waitFor(WAIT);
  await agentSays(page, "Ask me about refunds.").nth(1).waitFor({ state: "attached", ...WAIT });
  // Two: the answer, and the agent asking again.
  assert.equal(await badge.textContent(), "2");
  assert.equal(await page.locator(".bubble").getAttribute("aria-label"), "Open chat (2)");
  await page.locator(".bubble").click();
  await agentSays(page, ANSWER).waitFor(WAIT);
  assert.equal(await badge.isHidden(), true);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("under a strict Content-Security-Policy the widget is styled, works and causes no violation", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.onboarding, csp: "1" });
  await onboard(page);
  assert.equal(await page.locator(".bubble").evaluate((b) => getComputedStyle(b).backgroundColor), "rgb(37, 99, 235)", "styles applied");
  assert.equal(await page.locator(".panel").evaluate((p) => getComputedStyle(p).position), "absolute");
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  await shot(page, "strict-csp");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("script payloads in agent texts, button labels and file names render as text and never run", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.xss });
  await page.locator(".bubble").click();
  await say(page, "hi");
  await agentSays(page, "<script>").first().waitFor(WAIT);
  await page.locator(".btns button").first().waitFor(WAIT);
  await attach(page, '<svg onload="window.__xss=1">.pdf');
  await page.locator(".msg.user:not(.pending) a.file").first().waitFor(WAIT);
  const root = (sel) => page.evaluate((s) => Array.from(document.querySelector("#agenthost-chat").shadowRoot.querySelectorAll(s)).map((e) => e.getAttribute("href") ?? e.outerHTML), sel);
  assert.deepEqual(await root("script, .log img, .log svg, iframe, object, embed"), []);
  assert.ok((await agentSays(page, "<script>window.__xss=1</script>").count()) >= 1, "the payload is shown as text");
  assert.equal(await page.locator(".msg.agent strong", { hasText: "bold" }).count(), 1, "Markdown still rendered");
  assert.equal(await page.locator(".btns button").first().textContent(), '<img src=x onerror="window.__xss=1">');
  assert.equal(await page.locator(".btns a", { hasText: "Docs" }).getAttribute("href"), "https://example.com/docs", "a link button");
  assert.ok((await page.locator("a.file").first().textContent()).includes('<svg onload="window.__xss=1">.pdf'));
  const hrefs = await root("a");
  assert.ok(hrefs.length >= 1 && hrefs.every((h) => /^https?:/.test(h)), `only http(s) links: ${hrefs}`);
  await page.locator(".btns button").first().click();
  await agentSays(page, "You picked").waitFor(WAIT); // the agent's answer to the tap
  assert.equal(await page.evaluate(() => window.__xss), undefined, "no script ran");
  await shot(page, "xss");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("without EventSource the widget long-polls and still gets every answer", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.faq }, {}, () => delete window.EventSource);
  await faqStarted(page);
  await say(page, "What is the capital?");
  await agentSays(page, ANSWER).waitFor(WAIT);
  assert.equal(await page.evaluate(() => window.AgentHostChat.mode()), "poll");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("on a phone the panel fills the screen; the keyboard opens it, Tab stays inside, Esc closes; Russian from <html lang>", async () => {
  const { ctx, page, errors } = await open({ widget: host.widgets.faq, lang: "ru" }, { viewport: { width: 375, height: 667 }, hasTouch: true, isMobile: true });
  const bubble = page.locator(".bubble");
  assert.equal(await bubble.getAttribute("aria-label"), "Открыть чат");
  await bubble.focus();
  await page.keyboard.press("Enter");
  await page.locator("textarea").waitFor(WAIT);
  assert.deepEqual(await page.locator(".panel").boundingBox(), { x: 0, y: 0, width: 375, height: 667 });
  assert.equal(await page.locator("textarea").getAttribute("placeholder"), "Напишите сообщение…");
  const inside = () => page.evaluate(() => {
    const sr = document.querySelector("#agenthost-chat").shadowRoot;
    return !!sr.activeElement && sr.querySelector(".panel").contains(sr.activeElement);
  });
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press(i % 3 === 2 ? "Shift+Tab" : "Tab");
    assert.ok(await inside(), `focus left the panel after ${i + 1} presses`);
  }
  await shot(page, "phone");
  await page.keyboard.press("Escape");
  assert.equal(await page.locator(".panel").isHidden(), true);
  assert.equal(await page.evaluate(() => document.querySelector("#agenthost-chat").shadowRoot.activeElement?.className), "bubble");
  await page.reload();
  await page.locator(".bubble").waitFor(WAIT);
  assert.equal(await page.locator(".panel").isHidden(), true, "closed stays closed after a reload");
  assert.deepEqual(errors, []);
  await ctx.close();
});
