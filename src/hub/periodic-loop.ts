import cron from 'node-cron';
import { HubStoppingError } from '../domain/errors.js';

/**
 * Starts calling `onTick` periodically, and `onMissed` for a tick that came too late to run; returns a
 * function that stops it.
 */
export type Ticker = (onTick: () => void, onMissed: () => void) => () => void;

/**
 * A cron expression that fires every `periodSeconds`, on wall-clock boundaries (every 5 minutes means at
 * :00, :05, ...). The config schema only admits periods that tile a minute, an hour or a day.
 */
export function cronExpressionFor(periodSeconds: number): string {
  if (periodSeconds < 60) return `*/${periodSeconds} * * * * *`;
  if (periodSeconds < 3600) return `0 */${periodSeconds / 60} * * * *`;
  return `0 0 */${periodSeconds / 3600} * * *`;
}

/**
 * The production ticker: node-cron on the expression for the period. A tick that comes late (the event
 * loop was blocked) still runs within half a period; later than that it is reported as missed. node-cron's
 * default drops it after one second with a console warning that bypasses the log and the metrics.
 */
export function cronTicker(periodSeconds: number, name: string): Ticker {
  return (onTick, onMissed) => {
    const task = cron.schedule(cronExpressionFor(periodSeconds), onTick, { name, missedExecutionTolerance: (periodSeconds * 1000) / 2 });
    task.on('execution:missed', () => onMissed());
    return () => void task.destroy();
  };
}

export interface LoopHooks {
  /** A tick came while the previous cycle was still running, and was skipped. */
  onSkippedTick(): void;
  /** A tick came too late to run (the event loop was blocked past it), and was dropped. */
  onMissedTick(): void;
  /** A cycle threw; the loop carries on with the next tick. */
  onError(error: unknown): void;
}

/**
 * Runs a cycle on every tick and on demand, one at a time: a tick that finds a cycle running is skipped
 * (and counted); an on-demand run waits for the running cycle, then runs its own. A cycle that throws
 * never stops the loop. Once stopped, it starts no cycle until started again.
 */
export class PeriodicLoop<T> {
  private running: Promise<T> | undefined;
  private stopTicker: (() => void) | undefined;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly cycle: () => Promise<T>,
    private readonly ticker: Ticker,
    private readonly hooks: LoopHooks,
  ) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Runs one cycle now (after the one in progress, if any) and returns its result; rejects if it throws, or with
   * HubStoppingError once the loop is stopped: a stop waits for the running cycle, and one more asked meanwhile
   * (an API call) would hold the shutdown past its bound.
   */
  async runOnce(): Promise<T> {
    while (this.running) await this.running.catch(() => undefined);
    if (this.stopped) throw new HubStoppingError(`the hub is stopping: no new ${this.name} cycle starts`);
    const run = this.cycle();
    this.running = run;
    try {
      return await run;
    } finally {
      if (this.running === run) this.running = undefined;
    }
  }

  private tick(): void {
    if (this.running) {
      this.hooks.onSkippedTick();
      return;
    }
    this.runOnce().catch((error: unknown) => this.hooks.onError(error));
  }

  start(): void {
    this.stopped = false;
    if (this.stopTicker) return;
    this.stopTicker = this.ticker(
      () => this.tick(),
      () => this.hooks.onMissedTick(),
    );
  }

  /** Stops ticking and waits for a cycle in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopTicker?.();
    this.stopTicker = undefined;
    while (this.running) await this.running.catch(() => undefined);
  }
}
