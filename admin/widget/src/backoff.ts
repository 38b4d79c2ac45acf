// Reconnection state of the event stream: exponential backoff with jitter,
// and the decision to give up on SSE for long-polling after repeated
// failures with no successful open in between.

export class Backoff {
  failures = 0;
  everOpened = false;
  constructor(
    readonly baseMs = 1000,
    readonly maxMs = 30000,
    readonly fallbackAfter = 3,
    readonly random: () => number = Math.random,
  ) {}

  /** A connection opened: the next failure starts from the base delay again. */
  opened(): void {
    this.failures = 0;
    this.everOpened = true;
  }

  /** A connection failed: the delay before the next try (base·2^n capped, ±20 % jitter). */
  failed(): number {
    const n = Math.min(this.failures, 16);
    this.failures++;
    const d = Math.min(this.maxMs, this.baseMs * 2 ** n);
    return Math.round(d * (0.8 + 0.4 * this.random()));
  }

  /** SSE never worked here (a proxy strips it, a browser lacks it): use long-polling. */
  shouldFallBack(): boolean {
    return !this.everOpened && this.failures >= this.fallbackAfter;
  }
}

/** A retry delay from a 429's Retry-After (seconds), bounded; else the fallback. */
export function retryAfterMs(header: string | null, fallbackMs: number): number {
  const s = header ? Number(header) : NaN;
  return Number.isFinite(s) && s >= 0 ? Math.min(s, 300) * 1000 : fallbackMs;
}
