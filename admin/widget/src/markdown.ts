// A safe Markdown subset for agent texts: **bold**, *italic* / _italic_,
// `code`, [links](http(s) only), bare http(s) URLs, line breaks, "- " / "* "
// and "1. " lists, blank-line paragraphs. Parsing is pure (a small tree);
// rendering builds DOM nodes with textContent only, so nothing the agent
// writes is ever parsed as HTML.

export type Inline =
  | { t: "text"; v: string }
  | { t: "b" | "i"; c: Inline[] }
  | { t: "code"; v: string }
  | { t: "a"; href: string; c: Inline[] }
  | { t: "br" };

export type Block = { t: "p"; c: Inline[] } | { t: "ul" | "ol"; items: Inline[][] };

const MAX_DEPTH = 4;

/** The URL if it is absolute http(s), else null (javascript:, data:, relative...). */
export function safeUrl(href: string, base?: string): string | null {
  try {
    const u = base ? new URL(href, base) : new URL(href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

function pushText(out: Inline[], v: string): void {
  if (!v) return;
  const last = out[out.length - 1];
  if (last && last.t === "text") last.v += v;
  else out.push({ t: "text", v });
}

/** Inline spans of one line (no newlines inside). */
export function parseInline(s: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (depth < MAX_DEPTH && (ch === "*" || ch === "_")) {
      const strong = s[i + 1] === ch;
      const mark = strong ? ch + ch : ch;
      const end = s.indexOf(mark, i + mark.length);
      // A span needs content that does not start with a space ("2 * 3 * 4" stays text);
      // underscores never open or close inside a word (snake_case, __proto__).
      const word = ch === "_" && (/\w/.test(s[i - 1] || "") || /\w/.test(s[end + mark.length] || ""));
      if (end > i + mark.length && s[i + mark.length] !== " " && s[end - 1] !== " " && !word) {
        out.push({ t: strong ? "b" : "i", c: parseInline(s.slice(i + mark.length, end), depth + 1) });
        i = end + mark.length;
        continue;
      }
    } else if (ch === "`") {
      const end = s.indexOf("`", i + 1);
      if (end > i + 1) {
        out.push({ t: "code", v: s.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    } else if (ch === "[" && depth < MAX_DEPTH) {
      const m = /^\[([^\]]+)\]\(([^)\s]+)\)/.exec(s.slice(i));
      if (m) {
        const href = safeUrl(m[2]);
        if (href) out.push({ t: "a", href, c: parseInline(m[1], depth + 1) });
        else pushText(out, m[1]);
        i += m[0].length;
        continue;
      }
    } else if (ch === "h" && (i === 0 || /[\s(]/.test(s[i - 1]))) {
      const m = /^https?:\/\/[^\s<>"]+[^\s<>".,;:!?)]/.exec(s.slice(i));
      const href = m && safeUrl(m[0]);
      if (m && href) {
        out.push({ t: "a", href, c: [{ t: "text", v: m[0] }] });
        i += m[0].length;
        continue;
      }
    }
    pushText(out, ch);
    i++;
  }
  return out;
}

const UL = /^\s*[-*•]\s+(.*)$/;
const OL = /^\s*\d{1,3}[.)]\s+(.*)$/;

/** Blocks of a whole text: paragraphs (single newlines kept as breaks) and lists. */
export function parseMarkdown(text: string): Block[] {
  const blocks: Block[] = [];
  let para: Inline[] | null = null;
  let list: { t: "ul" | "ol"; items: Inline[][] } | null = null;
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    const ul = UL.exec(line);
    const ol = ul ? null : OL.exec(line);
    const item = ul || ol;
    if (item) {
      const t = ul ? "ul" : "ol";
      if (!list || list.t !== t) {
        list = { t, items: [] };
        blocks.push(list);
      }
      list.items.push(parseInline(item[1]));
      para = null;
    } else if (line.trim() === "") {
      para = null;
      list = null;
    } else {
      list = null;
      if (para) para.push({ t: "br" });
      else {
        para = [];
        blocks.push({ t: "p", c: para });
      }
      para.push(...parseInline(line));
    }
  }
  return blocks;
}

function renderInline(doc: Document, parent: Node, spans: Inline[]): void {
  for (const s of spans) {
    if (s.t === "text") parent.appendChild(doc.createTextNode(s.v));
    else if (s.t === "br") parent.appendChild(doc.createElement("br"));
    else if (s.t === "code") {
      const e = doc.createElement("code");
      e.textContent = s.v;
      parent.appendChild(e);
    } else {
      const e = doc.createElement(s.t === "b" ? "strong" : s.t === "i" ? "em" : "a");
      if (s.t === "a") {
        const a = e as HTMLAnchorElement;
        a.href = s.href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
      }
      renderInline(doc, e, s.c);
      parent.appendChild(e);
    }
  }
}

/** DOM nodes for a text, built with createElement/textContent only. */
export function renderMarkdown(doc: Document, text: string): DocumentFragment {
  const frag = doc.createDocumentFragment();
  for (const b of parseMarkdown(text)) {
    if (b.t === "p") {
      const p = doc.createElement("p");
      renderInline(doc, p, b.c);
      frag.appendChild(p);
    } else {
      const l = doc.createElement(b.t);
      for (const it of b.items) {
        const li = doc.createElement("li");
        renderInline(doc, li, it);
        l.appendChild(li);
      }
      frag.appendChild(l);
    }
  }
  return frag;
}
