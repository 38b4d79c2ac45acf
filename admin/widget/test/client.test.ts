import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatClient, type Message } from "../src/client";

type Call = { url: string; init?: RequestInit };

function fakeFetch(replies: Array<(c: Call) => Response>): Call[] {
  const calls: Call[] = [];
  globalThis.fetch = (async (url: string, init?: RequestInit) => {
    const c = { url: String(url), init };
    calls.push(c);
    const f = replies.shift();
    if (!f) throw new Error("unexpected fetch " + url);
    return f(c);
  }) as typeof fetch;
  return calls;
}

function memStore(init: Record<string, string> = {}) {
  const m = new Map(Object.entries(init));
  return {
    m,
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const noop = { message() {}, token() {}, typing() {}, status() {} };

test("a new visitor gets a session whose token is stored under agenthost.chat.<widget>", async () => {
  const calls = fakeFetch([() => json(201, { token: "T1", session_id: "s" })]);
  const store = memStore();
  const c = new ChatClient("https://h.example/", "wdg_1", noop, store);
  await c.start("ru");
  assert.equal(calls[0].url, "https://h.example/chat/wdg_1/sessions");
  assert.equal((calls[0].init?.headers as Record<string, string>).Authorization, undefined);
  assert.equal(calls[0].init?.credentials, "omit");
  assert.equal(store.m.get("agenthost.chat.wdg_1"), "T1");
});

test("a returning visitor resumes with the stored token; a refused one starts afresh", async () => {
  const calls = fakeFetch([() => json(401, { error: { code: "unauthorized" } }), () => json(201, { token: "T2" })]);
  const store = memStore({ "agenthost.chat.w": "OLD" });
  const c = new ChatClient("https://h", "w", noop, store);
  await c.start("en");
  assert.equal((calls[0].init?.headers as Record<string, string>).Authorization, "Bearer OLD");
  assert.equal((calls[1].init?.headers as Record<string, string>).Authorization, undefined);
  assert.equal(store.m.get("agenthost.chat.w"), "T2");
});

test("a durable message is delivered once whatever path brings it, and moves the cursor", () => {
  const got: Message[] = [];
  const c = new ChatClient("https://h", "w", { ...noop, message: (m) => got.push(m) }, null);
  c.deliver({ id: "5", role: "agent", text: "a" });
  c.deliver({ id: "5", role: "agent", text: "a" });
  c.deliver({ id: "7", role: "user", text: "b" });
  c.deliver({ id: "6", role: "agent", text: "late" });
  assert.deepEqual(got.map((m) => m.id), ["5", "7", "6"]);
  assert.equal(c.last, "7");
});

test("history is read after the cursor with the token, and sends carry an idempotency key", async () => {
  const calls = fakeFetch([
    () => json(200, { messages: [{ id: "1", role: "agent", text: "hi" }], next: "1" }),
    () => new Response("{}", { status: 202 }),
  ]);
  const got: string[] = [];
  const c = new ChatClient("https://h", "w", { ...noop, message: (m) => got.push(m.id) }, null);
  c.token = "TK";
  await c.history();
  assert.match(calls[0].url, /\/chat\/w\/history\?token=TK&after=&limit=100$/);
  await c.send({ payload: "yes" }, "cid1");
  const h = calls[1].init?.headers as Record<string, string>;
  assert.equal(h["Idempotency-Key"], "cid1");
  assert.equal(h.Authorization, "Bearer TK");
  assert.deepEqual(JSON.parse(String(calls[1].init?.body)), { payload: "yes", client_id: "cid1" });
  assert.deepEqual(got, ["1"]);
});

test("a send refused as bad input is not retried", async () => {
  fakeFetch([() => json(400, { error: { code: "invalid" } })]);
  const c = new ChatClient("https://h", "w", noop, null);
  await assert.rejects(c.send({ text: "x" }, "k"), /HTTP 400/);
});

test("without EventSource the client long-polls after the cursor", async () => {
  const calls = fakeFetch([() => json(200, { messages: [{ id: "9", role: "agent", text: "p" }], next: "9" })]);
  const got: string[] = [];
  const c = new ChatClient("https://h", "w", { ...noop, message: (m) => got.push(m.id) }, null);
  c.token = "TK";
  c.last = "8";
  c.connect();
  assert.equal(c.mode, "poll");
  await new Promise((r) => setTimeout(r, 20));
  c.close();
  assert.match(calls[0].url, /\/poll\?token=TK&after=8&wait_ms=25000$/);
  assert.deepEqual(got, ["9"]);
});

test("a signed-in user from data-user-* is sent with a new session", async () => {
  const { identityOf } = await import("../src/client");
  assert.equal(identityOf({ userId: "u1", userTs: "5" }), undefined, "no signature, no identity");
  const id = identityOf({ userId: "u1", userTs: "1700000000", userSig: "ab", userName: "Ann" });
  assert.deepEqual(id, { user_id: "u1", ts: 1700000000, sig: "ab", name: "Ann" });
  const calls = fakeFetch([() => json(201, { token: "T" })]);
  const store = memStore();
  await new ChatClient("https://h", "w", noop, store).start("en", id);
  assert.deepEqual(JSON.parse(String(calls[0].init?.body)), { lang: "en", identity: id });
  assert.equal(store.m.get("agenthost.chat.w.uid"), "u1");
});

test("another signed-in user on the same browser does not resume the previous one's conversation", async () => {
  const calls = fakeFetch([() => json(201, { token: "NEW" })]);
  const store = memStore({ "agenthost.chat.w": "ANNS", "agenthost.chat.w.uid": "ann" });
  await new ChatClient("https://h", "w", noop, store).start("en", { user_id: "bob", ts: 1, sig: "s" });
  assert.equal(calls.length, 1);
  assert.equal((calls[0].init?.headers as Record<string, string>).Authorization, undefined);
  assert.equal(store.m.get("agenthost.chat.w"), "NEW");
  assert.equal(store.m.get("agenthost.chat.w.uid"), "bob");
});

test("an event stream the host closed for good renews the session, then reconnects after the last message", async () => {
  const made: Array<{ url: string; es: any }> = [];
  class FakeES {
    readyState = 0;
    onopen: (() => void) | null = null;
    onerror: (() => void) | null = null;
    constructor(readonly url: string) {
      made.push({ url, es: this });
    }
    addEventListener() {}
    close() {
      this.readyState = 2;
    }
  }
  (globalThis as any).EventSource = FakeES;
  try {
    const calls = fakeFetch([() => json(201, { token: "T1" }), () => json(200, { token: "T2" })]);
    const store = memStore();
    const c = new ChatClient("https://h", "w", noop, store);
    (c as any).backoff = new (await import("../src/backoff")).Backoff(1, 1, 3, () => 0.5);
    await c.start("en");
    c.last = "41";
    c.connect();
    made[0].es.onopen();
    made[0].es.readyState = 2; // the host answered 401: EventSource gives up
    made[0].es.onerror();
    for (let i = 0; i < 50 && made.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    c.close();
    assert.equal((calls[1].init?.headers as Record<string, string>).Authorization, "Bearer T1", "resumed with the old token");
    assert.match(made[1].url, /\/events\?token=T2&last_event_id=41$/);
    assert.equal(store.m.get("agenthost.chat.w"), "T2");
  } finally {
    delete (globalThis as any).EventSource;
  }
});
