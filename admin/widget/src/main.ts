// Entry of widget.js: reads the script tag's options, mounts the widget in a
// shadow root (styles through adoptedStyleSheets, so a strict CSP needs no
// 'unsafe-inline'), and wires the UI to the chat client.

import { ChatClient, identityOf } from "./client";
import { pickLang, textsFor } from "./i18n";
import { STYLES } from "./styles";
import { ChatUi } from "./ui";

declare global {
  interface Window {
    AgentHostChat?: { open(): void; close(): void; mode(): string };
  }
}

function styles(shadow: ShadowRoot, nonce: string): void {
  try {
    const s = new CSSStyleSheet();
    s.replaceSync(STYLES);
    shadow.adoptedStyleSheets = [s];
    return;
  } catch {
    // No constructable stylesheets: a <style> element, allowed by a CSP
    // only with the script tag's nonce or 'unsafe-inline'.
  }
  const st = document.createElement("style");
  if (nonce) st.nonce = nonce;
  st.textContent = STYLES;
  shadow.appendChild(st);
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function mount(script: HTMLScriptElement): void {
  const d = script.dataset;
  const widget = d.widget || "";
  if (!widget || document.getElementById("agenthost-chat")) return;
  const host = d.host || (script.src ? new URL(script.src, location.href).origin : location.origin);
  const hostEl = document.createElement("div");
  hostEl.id = "agenthost-chat";
  const shadow = hostEl.attachShadow({ mode: "open" });
  styles(shadow, script.nonce || "");
  if (d.color && CSS_supports("color", d.color)) hostEl.style.setProperty("--ah-color", d.color);
  document.body.appendChild(hostEl);

  const store = storage();
  const openKey = "agenthost.chat." + widget + ".open";
  let ui: ChatUi;
  let started: Promise<void> | null = null;
  let seq = 0;
  let live = false; // past the history: new messages count as unread while closed
  const client = new ChatClient(
    host,
    widget,
    {
      message: (m) => {
        ui.message(m);
        if (live && m.role === "agent" && !ui.isOpen) ui.unread();
      },
      token: (s, delta) => ui.token(s, delta),
      typing: (on) => ui.typing(on),
      status: (on) => ui.setOnline(on),
    },
    store,
    d.transport === "poll",
  );
  const lang0 = pickLang(d.lang, document.documentElement.lang, navigator.language);

  const start = (): Promise<void> =>
    (started ||= (async () => {
      const cfg = await client.config();
      const lang = pickLang(d.lang, document.documentElement.lang, cfg.lang as string, navigator.language);
      if (lang !== lang0 || cfg.texts) ui.setTexts(textsFor(lang, cfg.texts as Record<string, unknown>));
      const name = d.agent || (cfg.agent_name as string);
      if (name) ui.setTitle(name);
      if (!d.color && typeof cfg.color === "string" && CSS_supports("color", cfg.color)) hostEl.style.setProperty("--ah-color", cfg.color);
      await client.start(lang, identityOf(d));
      await client.history();
      live = true;
      client.connect();
    })().catch((e) => {
      started = null;
      ui.setOnline(false);
      console.warn("agenthost chat:", e);
    }));

  const clientId = () => "c" + Date.now().toString(36) + (seq++).toString(36) + Math.random().toString(36).slice(2, 8);
  const sendWith = (body: { text: string } | { payload: string }, shown: string): void => {
    const p = ui.pendingUser(shown, "payload" in body ? body.payload : undefined);
    const id = clientId();
    void (async () => {
      await start();
      await client.send(body, id);
    })().catch(() => ui.failed(p));
  };
  const sendFile = (f: File): void => {
    const p = ui.pendingUser(f.name, undefined, f.name);
    const id = clientId();
    void (async () => {
      await start();
      const a = await client.upload(f, f.name);
      await client.send({ attachments: [a] }, id);
    })().catch(() => ui.failed(p));
  };

  ui = new ChatUi(shadow, textsFor(lang0), host, {
    opened: () => {
      safe(() => store?.setItem(openKey, "1"));
      void start();
    },
    closed: () => safe(() => store?.removeItem(openKey)),
    send: (text) => sendWith({ text }, text),
    file: sendFile,
    button: (b) => sendWith({ payload: String(b.payload ?? "") }, String(b.text ?? "")),
  });
  if (d.agent) ui.setTitle(d.agent);
  // A returning visitor: the conversation continues, the panel as it was left
  // (reopened without taking the focus from the page).
  if (safe(() => store?.getItem(openKey)) === "1") ui.open(false);
  else if (safe(() => store?.getItem("agenthost.chat." + widget))) void start();

  window.AgentHostChat = { open: () => ui.open(), close: () => ui.close(), mode: () => client.mode };
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function CSS_supports(prop: string, v: string): boolean {
  return typeof CSS !== "undefined" && CSS.supports(prop, v);
}

const script = (document.currentScript as HTMLScriptElement | null) || document.querySelector<HTMLScriptElement>("script[data-widget]");
if (script) {
  if (document.body) mount(script);
  else document.addEventListener("DOMContentLoaded", () => mount(script));
}
