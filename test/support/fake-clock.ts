import type { Clock } from '../../src/domain/clock.js';

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 5, 0, 0, 0)) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }

  advanceMinutes(minutes: number): void {
    this.advance(minutes * 60_000);
  }
}
