/** The source of "now" (epoch milliseconds), injected so that loops and simulations run on a fake clock in tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: the strategy simulator's time, and the tests' fake clock. */
export class ManualClock implements Clock {
  constructor(private current: number) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }

  advanceMinutes(minutes: number): void {
    this.advance(minutes * 60_000);
  }

  /** Moves to `atMs`; time never runs backwards. */
  advanceTo(atMs: number): void {
    if (atMs < this.current) throw new Error(`the clock cannot go back from ${new Date(this.current).toISOString()} to ${new Date(atMs).toISOString()}`);
    this.current = atMs;
  }
}
