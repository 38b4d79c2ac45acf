// The widget's side of the web chat protocol (docs/channels/webchat.md):
// a session token kept in localStorage, the history, then the live events
// over SSE (EventSource resends Last-Event-ID itself; a manual reconnect
// passes last_event_id) or, where SSE is missing or keeps failing, long-polling.

import { Backoff, retryAfterMs } from "./backoff";

export type Button = { text: string; payload: string; url?: string };
export type Attachment = { name: string; url: string; type?: string; size?: number };
export type Message = {
  id: string;
  role: "agent" | "user";
  text?: string;
  buttons?: Button[];
  attachments?: Attachment[];
  ts?: number;
  stream?: string;
};

export type Outgoing = { text: string } | { payload: string } | { attachments: Attachment[] };

export type Handlers = {
  message(m: Message): void;
  token(stream: string, delta: string): void;
  typing(on: boolean): void;
  status(online: boolean): void;
};

type Session = { token: string; session_id?: string; conversation_id?: string };

/** A signed-in user as the site vouches for them (webchat.md: identity signing). */
export type Identity = { user_id: string; email?: string; name?: string; ts: number; sig: string };

/** The identity of the script tag's data-user-* attributes, when id, ts and sig are all there. */
export function identityOf(d: Record<string, string | undefined>): Identity | undefined {
  if (!d.userId || !d.userTs || !d.userSig) return undefined;
  const id: Identity = { user_id: d.userId, ts: Number(d.userTs), sig: d.userSig };
  if (d.userEmail) id.email = d.userEmail;
  if (d.userName) id.name = d.userName;
  return id;
}

const POLL_WAIT_MS = 25000;

/** The seq of a message id, for ordering and for "after" cursors. */
export function seqOf(id: string): number {
  const n = Number(id);
  return Number.isFinite(n) ? n : -1;
}

export class ChatClient {
  token = "";
  last = ""; // the last durable message seen (its id)
  mode: "sse" | "poll" | "off" = "off";
  private es: EventSource | null = null;
  private backoff = new Backoff();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pollAbort: AbortController | null = null;
  private seen = new Set<string>();
  private lang = "";
  private identity: Identity | undefined;
  private readonly base: string;
  private readonly key: string;

  constructor(
    host: string,
    readonly widget: string,
    private h: Handlers,
    private store: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null,
    private forcePoll = false,
  ) {
    this.base = host.replace(/\/+$/, "") + "/chat/" + encodeURIComponent(widget);
    this.key = "agenthost.chat." + widget;
  }

  private url(path: string, q: Record<string, string> = {}): string {
    const p = new URLSearchParams(q).toString();
    return this.base + path + (p ? "?" + p : "");
  }

  private async req(method: string, path: string, body?: unknown, auth = true, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...extra };
    if (auth && this.token) headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(this.url(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors",
    });
  }

  async config(): Promise<Record<string, unknown>> {
    try {
      const r = await this.req("GET", "/config", undefined, false);
      return r.ok ? await r.json() : {};
    } catch {
      return {};
    }
  }

  /** Resumes the stored session, or starts a new one when there is none, it was
   *  refused, or it belongs to another signed-in user than this page's. */
  async start(lang: string, identity?: Identity): Promise<void> {
    this.lang = lang;
    this.identity = identity;
    this.token = this.safeGet() || "";
    const uid = identity ? identity.user_id : "";
    if (this.token && (this.safeGet(".uid") || "") !== uid) {
      this.token = "";
      this.safeRemove();
    }
    let r: Response | null = null;
    if (this.token) {
      r = await this.req("POST", "/sessions", { lang });
      if (r.status === 401 || r.status === 403 || r.status === 404) {
        this.token = "";
        this.safeRemove();
        r = null;
      }
    }
    if (!r) r = await this.req("POST", "/sessions", identity ? { lang, identity } : { lang }, false);
    if (!r.ok) throw new Error("session: HTTP " + r.status);
    const s = (await r.json()) as Session;
    this.token = s.token;
    this.safeSet(s.token);
    this.safeSet(uid, ".uid");
  }

  /** Every durable message of the conversation (pages of history), delivered in order. */
  async history(): Promise<void> {
    for (let page = 0; page < 20; page++) {
      const r = await fetch(this.url("/history", { token: this.token, after: this.last, limit: "100" }), { credentials: "omit" });
      if (!r.ok) return;
      const j = (await r.json()) as { messages?: Message[]; next?: string };
      const ms = j.messages || [];
      ms.forEach((m) => this.deliver(m));
      if (ms.length < 100) return;
    }
  }

  /** A durable message: delivered once, whatever path it came by. */
  deliver(m: Message): void {
    if (!m || m.id == null) return;
    const id = String(m.id);
    if (this.seen.has(id)) return;
    this.seen.add(id);
    if (!this.last || seqOf(id) >= seqOf(this.last)) this.last = id;
    this.h.message({ ...m, id });
  }

  connect(): void {
    if (this.forcePoll || typeof EventSource === "undefined" || this.backoff.shouldFallBack()) {
      this.mode = "poll";
      void this.poll();
      return;
    }
    this.mode = "sse";
    const q: Record<string, string> = { token: this.token };
    if (this.last) q.last_event_id = this.last;
    const es = new EventSource(this.url("/events", q));
    this.es = es;
    es.onopen = () => {
      this.backoff.opened();
      this.h.status(true);
    };
    es.addEventListener("message", (e) => this.onFrame(e as MessageEvent, "message"));
    es.addEventListener("token", (e) => this.onFrame(e as MessageEvent, "token"));
    es.addEventListener("typing", (e) => this.onFrame(e as MessageEvent, "typing"));
    es.onerror = () => {
      this.h.status(false);
      // EventSource retries by itself while CONNECTING; count the failures
      // and take over (backoff, last_event_id, maybe long-poll) once it gives
      // up or keeps failing without ever opening.
      // A stream the host closed for good (a refused or expired token reads
      // the same to EventSource) reconnects after renewing the session.
      if (es.readyState === 2 || !this.backoff.everOpened) {
        es.close();
        this.es = null;
        this.retry(this.backoff.failed(), es.readyState === 2);
      }
    };
  }

  private retry(ms: number, renew = false): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!renew) return this.connect();
      this.start(this.lang, this.identity).then(
        () => this.connect(),
        () => this.retry(this.backoff.failed(), true),
      );
    }, ms);
  }

  private onFrame(e: MessageEvent, kind: string): void {
    let d: any;
    try {
      d = JSON.parse(e.data);
    } catch {
      return;
    }
    if (kind === "message") this.deliver(d as Message);
    else if (kind === "token" && typeof d.delta === "string") this.h.token(String(d.stream ?? ""), d.delta);
    else if (kind === "typing") this.h.typing(!!d.on);
  }

  private async poll(): Promise<void> {
    this.pollAbort = new AbortController();
    try {
      const r = await fetch(this.url("/poll", { token: this.token, after: this.last, wait_ms: String(POLL_WAIT_MS) }), {
        credentials: "omit",
        signal: this.pollAbort.signal,
      });
      if (r.status === 429) return this.retry(retryAfterMs(r.headers.get("Retry-After"), this.backoff.failed()));
      if (!r.ok) throw new Error("poll: HTTP " + r.status);
      const j = (await r.json()) as { messages?: Message[] };
      this.backoff.opened();
      this.h.status(true);
      (j.messages || []).forEach((m) => this.deliver(m));
      this.retry(0);
    } catch (err) {
      if ((err as Error).name === "AbortError") return;
      this.h.status(false);
      this.retry(this.backoff.failed());
    }
  }

  /** Stores a file the visitor picked; the answer is the attachment to send. Names
   *  outside ASCII travel percent-encoded (a header carries Latin-1 only). */
  async upload(file: Blob, name: string): Promise<Attachment> {
    const r = await fetch(this.url("/uploads"), {
      method: "POST",
      headers: {
        Authorization: "Bearer " + this.token,
        "Content-Type": file.type || "application/octet-stream",
        "X-Filename": /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name),
      },
      body: file,
      credentials: "omit",
    });
    if (!r.ok) throw new Error("upload: HTTP " + r.status);
    return (await r.json()) as Attachment;
  }

  /** Sends a text, a button's payload or uploads; the id makes a retried send count once. */
  async send(body: Outgoing, clientId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.req("POST", "/messages", { ...body, client_id: clientId }, true, { "Idempotency-Key": clientId });
      if (r.ok) return;
      if (r.status !== 429 && r.status < 500) throw new Error("send: HTTP " + r.status);
      await new Promise((res) => setTimeout(res, retryAfterMs(r.headers.get("Retry-After"), 1000 * (attempt + 1))));
    }
    throw new Error("send: gave up");
  }

  close(): void {
    clearTimeout(this.timer);
    this.es?.close();
    this.pollAbort?.abort();
    this.mode = "off";
  }

  private safeGet(suffix = ""): string | null {
    try {
      return this.store?.getItem(this.key + suffix) ?? null;
    } catch {
      return null;
    }
  }
  private safeSet(v: string, suffix = ""): void {
    try {
      this.store?.setItem(this.key + suffix, v);
    } catch {
      /* storage full or denied: the session lasts this page only */
    }
  }
  private safeRemove(): void {
    try {
      this.store?.removeItem(this.key);
    } catch {
      /* ignore */
    }
  }
}
