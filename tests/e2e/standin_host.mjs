// A stand-in for the host's web chat endpoints (docs/channels/webchat.md),
// in node, so the widget's browser tests run before and beside the real
// host: the same routes, frames and errors, with scripted agents:
//   onboarding  the first-start example's questions (docs/examples/scenarios/onboarding-survey.json)
//   faq         an "LLM" answer streamed as token frames, then the durable message
//   xss         texts, button labels and file names carrying script payloads
// The browser test (widget.e2e.mjs) runs against the real host; it keeps this
// stand-in for the one case the real host cannot be made to do from outside:
// dropping the event stream (dropStreams) so the browser resumes with Last-Event-ID.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>';

// allowedOrigin: a function giving the one origin CORS allows.
export function startStandin(widgetJs, allowedOrigin) {
  let seq = 0;
  let gate = { promise: Promise.resolve(), open: () => {} };
  const sessions = new Map(); // token -> conversation
  const stats = { sse: 0, poll: 0, lastEventIds: [] };

  function post(conv, m) {
    const msg = { id: String(++seq), ts: Date.now(), ...m };
    conv.messages.push(msg);
    for (const s of conv.subs) s.write(`id: ${msg.id}\nevent: message\ndata: ${JSON.stringify(msg)}\n\n`);
    for (const w of conv.waiters.splice(0)) w();
  }
  const frame = (conv, event, data) => {
    for (const s of conv.subs) s.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const later = (ms) => new Promise((r) => setTimeout(r, ms));

  const agents = {
    async onboarding(conv, text) {
      const st = conv.state;
      if (st.step === "name") {
        st.name = text;
        st.step = "email";
        return post(conv, { role: "agent", text: `${text}, what is your work email?` });
      }
      if (st.step === "email") {
        st.step = "role";
        return post(conv, {
          role: "agent",
          text: "What do you do?",
          buttons: ["Development", "Management", "Something else"].map((b) => ({ text: b, payload: b })),
        });
      }
      if (st.step === "role") {
        st.role = text;
        st.step = "team";
        return post(conv, { role: "agent", text: "How many people are on your team?" });
      }
      if (st.step === "team") {
        st.step = "done";
        return post(conv, { role: "agent", text: `Thanks, **${st.name}**! Role: ${st.role}; team: ${text}.` });
      }
    },
    async faq(conv) {
      frame(conv, "typing", { on: true });
      const answer = "Refunds take **5 business days**.\n- request in your account\n- or write to [support](https://example.com/help)";
      const stream = "s" + seq;
      for (const piece of answer.match(/.{1,6}/gs)) {
        await later(40);
        frame(conv, "token", { stream, delta: piece });
      }
      // The final message comes after the last token, as the host commits it;
      // a test may hold it back to look at the stream first (holdFinals).
      await later(50);
      await gate.promise;
      post(conv, { role: "agent", text: answer, stream });
    },
    async xss(conv) {
      post(conv, {
        role: "agent",
        text: `${XSS} **bold** [link](javascript:window.__xss=1)`,
        buttons: [
          { text: `<img src=x onerror="window.__xss=1">`, payload: "p1" },
          { text: "Docs", payload: "Docs", url: "https://example.com/docs" },
          { text: "Evil link", payload: "evil", url: "javascript:window.__xss=1" },
        ],
        attachments: [
          { name: `<svg onload="window.__xss=1">.pdf`, url: "/files/a.pdf", type: "application/pdf", size: 3 },
          { name: "evil", url: "javascript:window.__xss=1", type: "application/pdf", size: 1 },
        ],
      });
    },
  };
  const greetings = {
    onboarding: (conv) => {
      post(conv, { role: "agent", text: "Welcome aboard! Four quick questions and you are set." });
      post(conv, { role: "agent", text: "What should we call you?" });
    },
    faq: (conv) => post(conv, { role: "agent", text: "Ask me about refunds." }),
    xss: (conv) => post(conv, { role: "agent", text: XSS }),
  };

  function send(res, status, body, headers = {}) {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  }
  function auth(req, url) {
    const h = req.headers.authorization || "";
    const token = h.startsWith("Bearer ") ? h.slice(7) : url.searchParams.get("token");
    return sessions.get(token || "");
  }
  async function body(req) {
    let b = "";
    for await (const c of req) b += c;
    return b ? JSON.parse(b) : {};
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const origin = req.headers.origin;
    if (origin && origin === allowedOrigin()) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Vary", "Origin");
    }
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Filename",
        "Access-Control-Max-Age": "600",
      });
      return res.end();
    }
    if (url.pathname === "/chat/widget.js") {
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache" });
      return res.end(readFileSync(widgetJs));
    }
    if (url.pathname === "/files/a.pdf") {
      res.writeHead(200, { "Content-Type": "application/pdf" });
      return res.end("pdf");
    }
    const file = /^\/chat\/[a-z]+\/uploads\/upl_[0-9a-f]+$/.test(url.pathname);
    if (file) {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      return res.end("stored");
    }
    const m = /^\/chat\/([a-z]+)\/([a-z]+)$/.exec(url.pathname);
    const agent = m && agents[m[1]];
    if (!agent) return send(res, 404, { error: { code: "not_found", message: "no such widget" } });
    const what = m[2];
    if (what === "config") return send(res, 200, { widget: m[1], agent_name: { faq: "FAQ", xss: "XSS", onboarding: "Onboarding" }[m[1]], lang: "en" });
    if (what === "sessions" && req.method === "POST") {
      const old = (req.headers.authorization || "").slice(7);
      if (old) {
        const conv = sessions.get(old);
        if (!conv) return send(res, 401, { error: { code: "unauthorized", message: "session token expired" } });
        return send(res, 200, { token: old, session_id: conv.id, conversation_id: conv.id });
      }
      const token = randomBytes(16).toString("hex");
      const conv = { id: "cnv_" + token.slice(0, 8), widget: m[1], messages: [], subs: new Set(), waiters: [], state: { step: "name" }, keys: new Set(), uploads: new Map() };
      sessions.set(token, conv);
      greetings[m[1]](conv);
      return send(res, 201, { token, session_id: conv.id, conversation_id: conv.id, expires_at: Date.now() + 864e5 });
    }
    const conv = auth(req, url);
    if (!conv || conv.widget !== m[1]) return send(res, 401, { error: { code: "unauthorized", message: "a session token is needed", field: "token" } });
    if (what === "uploads" && req.method === "POST") {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const id = "upl_" + randomBytes(4).toString("hex");
      const up = { id, name: decodeURIComponent(req.headers["x-filename"] || "file"), type: String(req.headers["content-type"] || ""), size: Buffer.concat(chunks).length, url: `/chat/${m[1]}/uploads/${id}` };
      conv.uploads.set(id, up);
      return send(res, 201, up);
    }
    if (what === "messages" && req.method === "POST") {
      const b = await body(req);
      if (Array.isArray(b.attachments) && b.attachments.length) {
        if (!b.attachments.every((a) => conv.uploads.has(a.id))) return send(res, 422, { error: { code: "invalid", message: "attachments: uploads of this widget", field: "attachments" } });
        post(conv, { role: "user", text: "", attachments: b.attachments.map((a) => conv.uploads.get(a.id)) });
        return send(res, 202, { id: String(seq) });
      }
      const key = req.headers["idempotency-key"] || b.client_id;
      if (key && conv.keys.has(key)) return send(res, 202, { id: "dup" });
      if (key) conv.keys.add(key);
      const text = typeof b.text === "string" ? b.text : typeof b.payload === "string" ? b.payload : null;
      if (!text) return send(res, 400, { error: { code: "invalid", message: "text or payload is required", field: "text" } });
      post(conv, { role: "user", text });
      send(res, 202, { id: String(seq) });
      return void agent(conv, text);
    }
    const after = (v) => conv.messages.filter((x) => Number(x.id) > Number(v || 0));
    if (what === "history") {
      const ms = after(url.searchParams.get("after")).slice(0, Number(url.searchParams.get("limit") || 100));
      return send(res, 200, { messages: ms, next: ms.length ? ms[ms.length - 1].id : url.searchParams.get("after") || "" });
    }
    if (what === "poll") {
      stats.poll++;
      let ms = after(url.searchParams.get("after"));
      if (!ms.length) {
        await Promise.race([new Promise((r) => conv.waiters.push(r)), later(Math.min(Number(url.searchParams.get("wait_ms") || 0), 25000))]);
        ms = after(url.searchParams.get("after"));
      }
      return send(res, 200, { messages: ms, next: ms.length ? ms[ms.length - 1].id : url.searchParams.get("after") || "" });
    }
    if (what === "events") {
      stats.sse++;
      const last = req.headers["last-event-id"] || url.searchParams.get("last_event_id") || "";
      stats.lastEventIds.push(last);
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      res.write(": hello\n\n");
      for (const x of after(last)) res.write(`id: ${x.id}\nevent: message\ndata: ${JSON.stringify(x)}\n\n`);
      conv.subs.add(res);
      req.on("close", () => conv.subs.delete(res));
      return;
    }
    send(res, 404, { error: { code: "not_found", message: "no such route" } });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({
        origin,
        stats,
        widgets: { onboarding: "onboarding", faq: "faq", xss: "xss" },
        /** An agent message to every conversation of a widget, unprompted (a proactive message). */
        push: (widget, text) => {
          for (const c of sessions.values()) if (c.widget === widget) post(c, { role: "agent", text });
        },
        /** Until release(), streamed answers stop before their final message. */
        holdFinals: () => {
          let open;
          gate = { promise: new Promise((r) => (open = r)), open };
        },
        release: () => gate.open(),
        dropStreams: () => {
          for (const c of sessions.values()) for (const s of c.subs) s.destroy();
        },
        close: () => {
          for (const c of sessions.values()) for (const s of c.subs) s.destroy();
          server.closeAllConnections?.();
          return new Promise((r) => server.close(r));
        },
      });
    }),
  );
}
