import assert from "node:assert/strict";
import { test } from "node:test";
import { parseInline, parseMarkdown, safeUrl } from "../src/markdown";

test("bold, italic and code spans become nodes, the rest stays text", () => {
  assert.deepEqual(parseInline("a **b** _c_ `d`"), [
    { t: "text", v: "a " },
    { t: "b", c: [{ t: "text", v: "b" }] },
    { t: "text", v: " " },
    { t: "i", c: [{ t: "text", v: "c" }] },
    { t: "text", v: " " },
    { t: "code", v: "d" },
  ]);
});

test("arithmetic stars and unclosed marks are plain text", () => {
  assert.deepEqual(parseInline("2 * 3 * 4 and **open"), [{ t: "text", v: "2 * 3 * 4 and **open" }]);
});

test("links keep only http(s) targets; javascript: and data: links become their text", () => {
  assert.deepEqual(parseInline("[site](https://example.com/a?b=1)"), [
    { t: "a", href: "https://example.com/a?b=1", c: [{ t: "text", v: "site" }] },
  ]);
  assert.deepEqual(parseInline("[x](javascript:alert(1))"), [{ t: "text", v: "x)" }]);
  assert.deepEqual(parseInline("[x](data:text/html,<script>)"), [{ t: "text", v: "x" }]);
  assert.equal(safeUrl("JavaScript:alert(1)"), null);
  assert.equal(safeUrl("/files/a.pdf", "https://h.example"), "https://h.example/files/a.pdf");
  assert.equal(safeUrl("/files/a.pdf"), null);
});

test("bare URLs are linked without their trailing punctuation", () => {
  assert.deepEqual(parseInline("see https://example.com/x."), [
    { t: "text", v: "see " },
    { t: "a", href: "https://example.com/x", c: [{ t: "text", v: "https://example.com/x" }] },
    { t: "text", v: "." },
  ]);
});

test("HTML in a text is text: the tree has no way to carry markup", () => {
  const blocks = parseMarkdown('<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>');
  assert.deepEqual(blocks, [{ t: "p", c: [{ t: "text", v: '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>' }] }]);
});

test("lines are breaks, blank lines paragraphs, dashes and numbers lists", () => {
  assert.deepEqual(parseMarkdown("one\ntwo\n\n- a\n- **b**\n1. c\nend"), [
    { t: "p", c: [{ t: "text", v: "one" }, { t: "br" }, { t: "text", v: "two" }] },
    { t: "ul", items: [[{ t: "text", v: "a" }], [{ t: "b", c: [{ t: "text", v: "b" }] }]] },
    { t: "ol", items: [[{ t: "text", v: "c" }]] },
    { t: "p", c: [{ t: "text", v: "end" }] },
  ]);
});

test("nesting is bounded: deep marks end as text, not recursion", () => {
  const deep = "*".repeat(2000) + "x" + "*".repeat(2000);
  assert.ok(parseInline(deep).length > 0);
});

test("underscores inside words are text (snake_case, __proto__)", () => {
  assert.deepEqual(parseInline("snake_case_name and __proto__x"), [{ t: "text", v: "snake_case_name and __proto__x" }]);
});
