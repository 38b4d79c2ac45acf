import assert from "node:assert/strict";
import { test } from "node:test";
import { TEXTS, pickLang, textsFor } from "../src/i18n";

test("the first supported language wins: data-lang, then the page, then the browser", () => {
  assert.equal(pickLang("ru", "en", "en-US"), "ru");
  assert.equal(pickLang(undefined, "ru-RU", "en-US"), "ru");
  assert.equal(pickLang("", "de", "ru_RU"), "ru");
  assert.equal(pickLang(null, "", "EN-gb"), "en");
});

test("an unsupported or missing language falls back to English", () => {
  assert.equal(pickLang("de", "fr"), "en");
  assert.equal(pickLang(), "en");
});

test("both languages have every text, and they differ", () => {
  for (const k of Object.keys(TEXTS.en) as Array<keyof typeof TEXTS.en>) {
    assert.ok(TEXTS.ru[k], k);
    assert.notEqual(TEXTS.ru[k], TEXTS.en[k], k);
  }
});

test("the operator's texts override known keys only, strings only", () => {
  const t = textsFor("en", { title: "Ask Ann", bogus: "x", send: 5 });
  assert.equal(t.title, "Ask Ann");
  assert.equal(t.send, "Send");
  assert.equal((t as Record<string, unknown>).bogus, undefined);
});
