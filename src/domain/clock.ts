/** The source of "now" (epoch milliseconds), injected so that loops and simulations run on a fake clock in tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
