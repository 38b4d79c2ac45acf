import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, retryAfterMs } from "../src/backoff";

test("delays double from the base up to the cap", () => {
  const b = new Backoff(1000, 8000, 3, () => 0.5);
  assert.deepEqual([b.failed(), b.failed(), b.failed(), b.failed(), b.failed()], [1000, 2000, 4000, 8000, 8000]);
});

test("jitter stays within ±20 %", () => {
  assert.equal(new Backoff(1000, 8000, 3, () => 0).failed(), 800);
  assert.equal(new Backoff(1000, 8000, 3, () => 0.999999).failed(), 1200);
});

test("an open resets the delay", () => {
  const b = new Backoff(1000, 8000, 3, () => 0.5);
  b.failed();
  b.failed();
  b.opened();
  assert.equal(b.failed(), 1000);
});

test("SSE that never opened falls back to long-polling after N failures; one that worked does not", () => {
  const never = new Backoff(10, 100, 3);
  never.failed();
  never.failed();
  assert.equal(never.shouldFallBack(), false);
  never.failed();
  assert.equal(never.shouldFallBack(), true);
  const worked = new Backoff(10, 100, 3);
  worked.opened();
  for (let i = 0; i < 10; i++) worked.failed();
  assert.equal(worked.shouldFallBack(), false);
});

test("Retry-After seconds are honoured and bounded; junk uses the fallback", () => {
  assert.equal(retryAfterMs("3", 50), 3000);
  assert.equal(retryAfterMs("100000", 50), 300000);
  assert.equal(retryAfterMs("soon", 50), 50);
  assert.equal(retryAfterMs(null, 50), 50);
});
