import cron from 'node-cron';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { HubStoppingError } from '../../src/domain/errors.js';
import { cronExpressionFor, cronTicker, PeriodicLoop } from '../../src/hub/periodic-loop.js';
import { deferred, flushPromises, track, type Deferred } from '../support/deferred.js';
import { ManualTickers } from '../support/manual-ticker.js';

describe('cronExpressionFor', () => {
  const cases = [
    { seconds: 1, want: '*/1 * * * * *' },
    { seconds: 10, want: '*/10 * * * * *' },
    { seconds: 30, want: '*/30 * * * * *' },
    { seconds: 60, want: '0 */1 * * * *' },
    { seconds: 300, want: '0 */5 * * * *' },
    { seconds: 1800, want: '0 */30 * * * *' },
    { seconds: 3600, want: '0 0 */1 * * *' },
    { seconds: 21600, want: '0 0 */6 * * *' },
    { seconds: 86400, want: '0 0 */24 * * *' },
  ];
  for (const { seconds, want } of cases) {
    it(`${seconds} s -> "${want}", which node-cron accepts`, () => {
      expect(cronExpressionFor(seconds)).toBe(want);
      expect(cron.validate(want)).toBe(true);
    });
  }

  it('gives node-cron a valid expression for every period the config admits', () => {
    const candidates = [...Array.from({ length: 3600 }, (_, i) => i + 1), ...Array.from({ length: 1380 }, (_, i) => 3660 + i * 60)];
    for (const seconds of candidates) {
      let admitted = true;
      try {
        parseConfig({ periods: { carbon_seconds: seconds } });
      } catch {
        admitted = false;
      }
      if (admitted) expect(cron.validate(cronExpressionFor(seconds)), String(seconds)).toBe(true);
    }
  });
});

describe('cronTicker', () => {
  it('returns a stop function for a scheduled task', () => {
    const stop = cronTicker(3600, 'test-loop')(
      () => undefined,
      () => undefined,
    );
    expect(typeof stop).toBe('function');
    stop();
  });

  it('reports a tick the event loop was blocked past, rather than dropping it with a console warning', async () => {
    const missed = deferred<void>();
    const stop = cronTicker(1, 'late-loop')(
      () => undefined,
      () => missed.resolve(),
    );
    // Blocks the event loop over two 1-second ticks: node-cron sees them come late.
    const until = Date.now() + 2_500;
    while (Date.now() < until) {
      // busy: the point is to block
    }
    await missed.promise;
    stop();
  });
});

/** A cycle whose every run stays open until the test settles it. */
class ScriptedCycle {
  readonly runs: Deferred<number>[] = [];
  readonly run = (): Promise<number> => {
    const d = deferred<number>();
    this.runs.push(d);
    return d.promise;
  };

  get calls(): number {
    return this.runs.length;
  }

  last(): Deferred<number> {
    const d = this.runs.at(-1);
    if (!d) throw new Error('no run yet');
    return d;
  }
}

describe('PeriodicLoop', () => {
  let tickers: ManualTickers;
  let cycle: ScriptedCycle;
  let skipped: number;
  let missed: number;
  let errors: unknown[];
  let loop: PeriodicLoop<number>;

  beforeEach(() => {
    tickers = new ManualTickers();
    cycle = new ScriptedCycle();
    skipped = 0;
    missed = 0;
    errors = [];
    loop = new PeriodicLoop('carbon', cycle.run, tickers.factory(10, 'carbon'), {
      onSkippedTick: () => skipped++,
      onMissedTick: () => missed++,
      onError: (error) => errors.push(error),
    });
  });

  it('runs a cycle on every tick once started, and stops ticking when stopped', async () => {
    expect(tickers.isRunning('carbon')).toBe(false);
    loop.start();
    expect(tickers.isRunning('carbon')).toBe(true);
    tickers.tick('carbon');
    expect(cycle.calls).toBe(1);
    expect(loop.busy).toBe(true);
    cycle.last().resolve(1);
    await flushPromises();
    expect(loop.busy).toBe(false);
    tickers.tick('carbon');
    expect(cycle.calls).toBe(2);
    cycle.last().resolve(2);
    await loop.stop();
    expect(tickers.isRunning('carbon')).toBe(false);
    expect(skipped).toBe(0);
    expect(errors).toEqual([]);
  });

  it('start is idempotent, and the loop can start again after a stop', async () => {
    loop.start();
    loop.start();
    tickers.tick('carbon');
    expect(cycle.calls).toBe(1);
    cycle.last().resolve(1);
    await loop.stop();
    loop.start();
    tickers.tick('carbon');
    expect(cycle.calls).toBe(2);
    cycle.last().resolve(2);
    await loop.stop();
  });

  it('reports a tick that came too late, and runs no cycle for it', () => {
    loop.start();
    tickers.miss('carbon');
    expect(missed).toBe(1);
    expect(cycle.calls).toBe(0);
    expect(skipped).toBe(0);
  });

  it('skips and counts a tick that comes while a cycle is running', async () => {
    loop.start();
    tickers.tick('carbon');
    tickers.tick('carbon');
    tickers.tick('carbon');
    expect(cycle.calls).toBe(1);
    expect(skipped).toBe(2);
    cycle.last().resolve(1);
    await flushPromises();
    tickers.tick('carbon');
    expect(cycle.calls).toBe(2);
    expect(skipped).toBe(2);
    cycle.last().resolve(2);
    await loop.stop();
  });

  it('carries on ticking after a cycle throws, handing the error to onError', async () => {
    loop.start();
    tickers.tick('carbon');
    const boom = new Error('boom');
    cycle.last().reject(boom);
    await flushPromises();
    expect(errors).toEqual([boom]);
    expect(loop.busy).toBe(false);
    tickers.tick('carbon');
    expect(cycle.calls).toBe(2);
    cycle.last().resolve(2);
    await loop.stop();
    expect(errors).toEqual([boom]);
  });

  it('runOnce resolves with the result of its cycle, or rejects with its error', async () => {
    const first = loop.runOnce();
    cycle.last().resolve(42);
    await expect(first).resolves.toBe(42);
    const second = loop.runOnce();
    cycle.last().reject(new Error('bad cycle'));
    await expect(second).rejects.toThrow('bad cycle');
    expect(loop.busy).toBe(false);
    expect(errors).toEqual([]);
  });

  it('runOnce works without start', async () => {
    const run = loop.runOnce();
    expect(tickers.isRunning('carbon')).toBe(false);
    cycle.last().resolve(7);
    await expect(run).resolves.toBe(7);
  });

  it('runOnce waits for the running cycle, then runs its own', async () => {
    loop.start();
    tickers.tick('carbon');
    const ticked = cycle.last();
    const onDemand = track(loop.runOnce());
    await flushPromises();
    expect(cycle.calls).toBe(1);
    expect(onDemand.done).toBe(false);

    ticked.resolve(1);
    await flushPromises();
    expect(cycle.calls).toBe(2);
    expect(onDemand.done).toBe(false);
    cycle.last().resolve(2);
    await expect(onDemand.promise).resolves.toBe(2);
    await loop.stop();
  });

  it('runOnce also waits for a running cycle that fails', async () => {
    const failing = loop.runOnce();
    const next = loop.runOnce();
    await flushPromises();
    expect(cycle.calls).toBe(1);
    cycle.last().reject(new Error('first fails'));
    await expect(failing).rejects.toThrow('first fails');
    await flushPromises();
    expect(cycle.calls).toBe(2);
    cycle.last().resolve(2);
    await expect(next).resolves.toBe(2);
  });

  it('serialises several waiting runOnce calls one after another', async () => {
    const results = [loop.runOnce(), loop.runOnce(), loop.runOnce()];
    for (let i = 1; i <= 3; i++) {
      await flushPromises();
      expect(cycle.calls, `before run ${i} ends`).toBe(i);
      expect(loop.busy).toBe(true);
      cycle.last().resolve(i);
    }
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3]);
    expect(cycle.calls).toBe(3);
  });

  it('a tick during an on-demand run is skipped', async () => {
    loop.start();
    const run = loop.runOnce();
    tickers.tick('carbon');
    expect(skipped).toBe(1);
    expect(cycle.calls).toBe(1);
    cycle.last().resolve(1);
    await run;
    await loop.stop();
  });

  it('stop waits for the running cycle to finish', async () => {
    loop.start();
    tickers.tick('carbon');
    const stopping = track(loop.stop());
    expect(tickers.isRunning('carbon')).toBe(false);
    await flushPromises();
    expect(stopping.done).toBe(false);
    cycle.last().resolve(1);
    await stopping.promise;
    expect(loop.busy).toBe(false);
  });

  it('once stopping, starts no on-demand run queued behind the running cycle, nor any later one, until started again', async () => {
    const first = loop.runOnce();
    const second = loop.runOnce();
    const stopping = track(loop.stop());
    cycle.last().resolve(1);
    await first;
    await stopping.promise;
    // Each run asked meanwhile would hold the stop for a whole cycle more.
    expect(cycle.calls).toBe(1);
    await expect(second).rejects.toThrow(new HubStoppingError('the hub is stopping: no new carbon cycle starts'));
    await expect(loop.runOnce()).rejects.toBeInstanceOf(HubStoppingError);
    loop.start();
    const again = loop.runOnce();
    cycle.last().resolve(3);
    await expect(again).resolves.toBe(3);
    await loop.stop();
  });

  it('stop resolves even when the running cycle fails', async () => {
    loop.start();
    tickers.tick('carbon');
    const stopping = loop.stop();
    cycle.last().reject(new Error('late failure'));
    await expect(stopping).resolves.toBeUndefined();
    await flushPromises();
    expect(errors).toHaveLength(1);
  });

  it('stop on an idle or never-started loop resolves at once', async () => {
    await expect(loop.stop()).resolves.toBeUndefined();
    loop.start();
    await expect(loop.stop()).resolves.toBeUndefined();
    expect(cycle.calls).toBe(0);
  });

  it('keeps its name', () => {
    expect(loop.name).toBe('carbon');
  });
});
