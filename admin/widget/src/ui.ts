// The widget's DOM: a launcher bubble and a chat panel in a shadow root.
// Everything the agent or the user wrote reaches the page through
// textContent or the safe Markdown renderer, never as HTML.

import { renderMarkdown, safeUrl } from "./markdown";
import type { Texts } from "./i18n";
import type { Attachment, Button, Message } from "./client";

type El = HTMLElement;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function icon(d: string): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const s = document.createElementNS(ns, "svg");
  s.setAttribute("viewBox", "0 0 24 24");
  s.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", d);
  s.appendChild(p);
  return s;
}

const CLIP_ICON = "M16.5 6.5v9a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10a1.5 1.5 0 0 1-3 0V6.5H9V15a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v10.5a6 6 0 0 0 12 0v-9z";
const CHAT_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";

export type UiEvents = {
  opened(): void;
  closed(): void;
  send(text: string): void;
  file(f: File): void;
  button(b: Button): void;
};

export class ChatUi {
  readonly root: El;
  readonly bubble: HTMLButtonElement;
  readonly panel: El;
  readonly title: El;
  readonly status: El;
  readonly log: El;
  readonly typingEl: El;
  readonly input: HTMLTextAreaElement;
  private x: HTMLButtonElement;
  private clip: HTMLButtonElement;
  private sendBtn: HTMLButtonElement;
  private streams = new Map<string, El>();
  private pending: El[] = [];
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private unseen = 0;
  private badge: El;

  constructor(
    private shadow: ShadowRoot,
    private t: Texts,
    private host: string,
    private ev: UiEvents,
  ) {
    this.root = el("div", "root");
    this.bubble = el("button", "bubble");
    this.bubble.type = "button";
    this.bubble.setAttribute("aria-label", t.open);
    this.bubble.setAttribute("aria-expanded", "false");
    this.bubble.setAttribute("aria-controls", "ah-panel");
    this.bubble.appendChild(icon(CHAT_ICON));
    this.badge = el("span", "badge");
    this.badge.hidden = true;
    this.badge.setAttribute("aria-hidden", "true");
    this.bubble.appendChild(this.badge);

    this.panel = el("div", "panel");
    this.panel.id = "ah-panel";
    this.panel.hidden = true;
    this.panel.setAttribute("role", "dialog");
    this.panel.setAttribute("aria-modal", "true");
    this.panel.setAttribute("aria-labelledby", "ah-title");
    const head = el("header");
    this.title = el("h2", "", t.title);
    this.title.id = "ah-title";
    this.status = el("span", "status");
    this.status.setAttribute("aria-live", "polite");
    const x = (this.x = el("button", "x", "×"));
    x.type = "button";
    x.setAttribute("aria-label", t.close);
    head.append(this.title, this.status, x);

    this.log = el("div", "log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    this.log.tabIndex = 0;
    this.typingEl = el("div", "typing", t.typing);
    this.typingEl.hidden = true;

    const form = el("form");
    const picker = el("input");
    picker.type = "file";
    picker.hidden = true;
    picker.tabIndex = -1;
    const clip = (this.clip = el("button", "clip"));
    clip.type = "button";
    clip.setAttribute("aria-label", t.attach);
    clip.appendChild(icon(CLIP_ICON));
    clip.addEventListener("click", () => picker.click());
    picker.addEventListener("change", () => {
      for (const f of Array.from(picker.files || [])) this.ev.file(f);
      picker.value = "";
    });
    this.input = el("textarea");
    this.input.rows = 1;
    this.input.placeholder = t.placeholder;
    this.input.setAttribute("aria-label", t.placeholder);
    const send = (this.sendBtn = el("button", "send", t.send));
    send.type = "submit";
    form.append(picker, clip, this.input, send);
    this.panel.append(head, this.log, this.typingEl, form);
    this.root.append(this.panel, this.bubble);
    shadow.appendChild(this.root);

    this.bubble.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
    x.addEventListener("click", () => this.close());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.panel.addEventListener("keydown", (e) => this.trap(e));
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  /** One more agent message the visitor has not seen (the panel closed): a count on the bubble. */
  unread(): void {
    this.unseen++;
    this.badge.textContent = String(Math.min(this.unseen, 99));
    this.badge.hidden = false;
    this.bubble.setAttribute("aria-label", `${this.t.open} (${this.unseen})`);
  }

  open(focus = true): void {
    this.unseen = 0;
    this.badge.hidden = true;
    this.panel.hidden = false;
    this.root.classList.add("open");
    this.bubble.setAttribute("aria-expanded", "true");
    this.bubble.setAttribute("aria-label", this.t.close);
    if (focus) this.input.focus();
    this.scroll();
    this.ev.opened();
  }

  close(): void {
    this.panel.hidden = true;
    this.root.classList.remove("open");
    this.bubble.setAttribute("aria-expanded", "false");
    this.bubble.setAttribute("aria-label", this.t.open);
    this.bubble.focus();
    this.ev.closed();
  }

  /** Focus stays inside the open panel; Esc closes it. */
  private trap(e: KeyboardEvent): void {
    if (e.key === "Escape") {
      e.preventDefault();
      this.close();
      return;
    }
    if (e.key !== "Tab") return;
    const f = Array.from(this.panel.querySelectorAll<El>("button:not([disabled]),textarea,a[href],[tabindex='0']"));
    if (!f.length) return;
    const active = this.shadow.activeElement;
    const first = f[0];
    const last = f[f.length - 1];
    if (e.shiftKey && (active === first || !this.panel.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  }

  private submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.ev.send(text);
  }

  private scroll(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** The UI texts of another language (the widget's configured one). */
  setTexts(t: Texts): void {
    const old = this.t;
    this.t = t;
    this.bubble.setAttribute("aria-label", this.isOpen ? t.close : t.open);
    this.x.setAttribute("aria-label", t.close);
    this.clip.setAttribute("aria-label", t.attach);
    this.input.placeholder = t.placeholder;
    this.input.setAttribute("aria-label", t.placeholder);
    this.sendBtn.textContent = t.send;
    this.typingEl.textContent = t.typing;
    if (this.title.textContent === old.title) this.title.textContent = t.title;
  }

  setTitle(name: string): void {
    this.title.textContent = name;
    this.panel.setAttribute("aria-label", name);
  }

  setOnline(on: boolean): void {
    this.status.textContent = on ? "" : this.t.offline;
  }

  /** The typing indicator; it goes by itself after 30 s if no "off" (or answer) comes. */
  typing(on: boolean): void {
    this.typingEl.hidden = !on;
    clearTimeout(this.typingTimer);
    if (on) this.typingTimer = setTimeout(() => (this.typingEl.hidden = true), 30000);
  }

  /** The user's message shown at once, greyed until the host's copy arrives. */
  pendingUser(text: string, payload?: string, file?: string): El {
    const m = el("div", "msg user pending", text);
    m.dataset.text = text;
    if (payload != null) m.dataset.payload = payload;
    if (file != null) m.dataset.file = file;
    this.pending.push(m);
    this.log.appendChild(m);
    this.scroll();
    return m;
  }

  failed(m: El): void {
    m.classList.add("failed");
    m.title = this.t.error;
    this.status.textContent = this.t.error;
  }

  /** Token frames appended as plain text to the stream's bubble. */
  token(stream: string, delta: string): void {
    let b = this.streams.get(stream);
    if (!b) {
      b = el("div", "msg agent stream");
      this.streams.set(stream, b);
      this.log.appendChild(b);
    }
    this.typing(false);
    b.appendChild(document.createTextNode(delta));
    this.scroll();
  }

  message(m: Message): void {
    if (m.role === "user") {
      // The host's copy of a pending message: its text, or the tapped button's payload.
      const t = (m.text || "").trim();
      const file = m.attachments && m.attachments[0] && m.attachments[0].name;
      const i = this.pending.findIndex((p) => (t && (p.dataset.text === t || p.dataset.payload === t)) || (file && p.dataset.file === file));
      if (i >= 0) {
        const [p] = this.pending.splice(i, 1);
        p.classList.remove("pending", "failed");
        p.dataset.id = m.id;
        if (p.dataset.file != null) {
          p.textContent = "";
          for (const a of m.attachments || []) this.attachment(p, a);
        }
        return;
      }
    } else this.typing(false);
    const b = el("div", "msg " + (m.role === "user" ? "user" : "agent"));
    b.dataset.id = m.id;
    if (m.text) {
      if (m.role === "user") b.textContent = m.text;
      else b.appendChild(renderMarkdown(document, m.text));
    }
    for (const a of m.attachments || []) this.attachment(b, a);
    // The final message replaces its stream's bubble (the stream it names, else the oldest open one).
    const key = m.stream != null && this.streams.has(m.stream) ? m.stream : m.role === "agent" ? this.streams.keys().next().value : undefined;
    const s = key != null ? this.streams.get(key) : undefined;
    if (s && key != null) {
      this.streams.delete(key);
      s.replaceWith(b);
    } else this.log.appendChild(b);
    if (m.buttons && m.buttons.length) this.buttons(b, m.buttons);
    this.scroll();
  }

  private attachment(parent: El, a: Attachment): void {
    const url = safeUrl(a.url || "", this.host);
    if (!url) return;
    if ((a.type || "").startsWith("image/")) {
      const img = el("img");
      img.src = url;
      img.alt = a.name || this.t.image;
      img.loading = "lazy";
      parent.appendChild(img);
    } else {
      const l = el("a", "file", a.name || this.t.file);
      l.href = url;
      l.target = "_blank";
      l.rel = "noopener noreferrer";
      l.setAttribute("download", "");
      parent.appendChild(l);
    }
  }

  private buttons(after: El, bs: Button[]): void {
    const row = el("div", "btns");
    row.setAttribute("role", "group");
    for (const b of bs) {
      // A link button opens its http(s) URL; any other scheme is dropped and it sends its payload.
      const href = b.url ? safeUrl(String(b.url)) : null;
      if (href) {
        const a = el("a", "", String(b.text ?? ""));
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        row.appendChild(a);
        continue;
      }
      const btn = el("button", "", String(b.text ?? ""));
      btn.type = "button";
      btn.addEventListener("click", () => {
        row.querySelectorAll("button").forEach((x) => (x.disabled = true));
        this.ev.button(b);
      });
      row.appendChild(btn);
    }
    after.after(row);
  }
}
