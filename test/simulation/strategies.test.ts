import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { seededRandom } from '../../src/domain/random.js';
import { validatePlan, type OptimizeInput } from '../../src/optimizer/index.js';
import { benchConfig } from '../../src/simulation/bench.js';
import { flatTrace } from '../../src/simulation/carbon-trace.js';
import { waitBelowThreshold } from '../../src/simulation/strategies/heuristics.js';
import { STRATEGIES, strategyNames } from '../../src/simulation/strategies/registry.js';
import type { Strategy, StrategyContext } from '../../src/simulation/strategies/types.js';
import { input, job } from '../support/optimizer-builders.js';

const context = (): StrategyContext => ({
  seed: 3,
  clock: new ManualClock(0),
  run: { config: benchConfig(), workload: { name: 'none', jobs: [], skipped: {} }, trace: flatTrace(['KR', 'JP-TK', 'CN'], 400), startMs: 0 },
});

/** A crowded random cycle: more work than room, affinities, GPUs, running jobs pinned to their region, earlier plans. */
function randomInput(seed: number, options: { pools?: boolean; wait?: boolean } = {}): OptimizeInput {
  const random = seededRandom(seed);
  const regions = ['KR', 'JP', 'CN'];
  const b = input().regions(...regions).horizon(16).slotSeconds(900);
  for (const r of regions) {
    b.capacity(r, { cpu: 6 + Math.floor(random() * 6), mem: 24, gpu: 1 });
    b.carbon(r, Array.from({ length: 16 }, () => 200 + Math.floor(random() * 400)));
  }
  if (options.pools) b.pools('KR', { name: 'FAST', speed: 1, power: 1, cap: { cpu: 6, mem: 24, gpu: 1 } }, { name: 'ECO', speed: 1.5, power: 0.6, cap: { cpu: 4, mem: 16 } });
  b.networkCost('KR', 'JP', 5).networkCost('JP', 'CN', 7);
  for (let i = 0; i < 24; i++) {
    const runtime = 1 + Math.floor(random() * 4);
    const release = Math.floor(random() * 4);
    const j = job(`j${i}`)
      .cpu(1 + Math.floor(random() * 4))
      .mem(2 + Math.floor(random() * 8))
      .gpu(random() < 0.15 ? 1 : 0)
      .runtime(runtime)
      .window(release, Math.min(15, release + runtime - 1 + Math.floor(random() * 10)))
      .data(Math.floor(random() * 20));
    if (random() < 0.2) j.affinity(regions[Math.floor(random() * 3)] as string);
    if (options.wait && random() < 0.5) j.wait(Math.floor(random() * 30));
    b.job(j);
  }
  // Two running jobs: they may only stay (or move now).
  b.job(job('run-1').cpu(2).runtime(2).window(0, 1)).prev('run-1', 'JP');
  b.job(job('run-2').cpu(1).runtime(3).window(0, 2)).prev('run-2', 'CN');
  // Earlier plans of two waiting jobs.
  b.prev('j1', 'KR').prev('j2', 'CN');
  return b.obj();
}

async function strategies(): Promise<Strategy[]> {
  const ctx = context();
  return Promise.all(STRATEGIES.filter((s) => s.name !== 'oracle').map((s) => s.create(ctx)));
}

describe('strategies', () => {
  it('have unique names and FCFS first', () => {
    expect(new Set(strategyNames()).size).toBe(STRATEGIES.length);
    expect(strategyNames()).toEqual(['fcfs', 'round-robin', 'random', 'min-min', 'max-min', 'greenest-now', 'wait-below-threshold', 'ecsched', 'caspian', 'oracle']);
  });

  it('plan within capacity, windows and affinity, and account for every job (validatePlan)', async () => {
    for (const variant of [{}, { pools: true }, { wait: true }]) {
      for (let seed = 1; seed <= 4; seed++) {
        const raw = randomInput(seed, variant);
        for (const strategy of await strategies()) {
          const output = await strategy.plan(structuredClone(raw), { timeLimitSeconds: 0.5, gapTolerance: 0.005 });
          const { violations } = validatePlan(raw, output);
          expect(violations, `${strategy.name}, seed ${seed}, ${JSON.stringify(variant)}`).toEqual([]);
          expect(output.plans.length, `${strategy.name} seed ${seed}`).toBeGreaterThan(10);
        }
      }
    }
  });

  it('keep running jobs where they run', async () => {
    const raw = randomInput(11);
    for (const strategy of await strategies()) {
      if (strategy.name === 'caspian') continue;
      const output = await strategy.plan(structuredClone(raw), {});
      expect(output.plans.find((p) => p.job_id === 'run-1'), strategy.name).toMatchObject({ region: 'JP', start_slot: 0 });
      expect(output.plans.find((p) => p.job_id === 'run-2'), strategy.name).toMatchObject({ region: 'CN', start_slot: 0 });
    }
  });

  it('FCFS starts as early as it can in the home region; greenest-now picks the cleanest region now', async () => {
    const raw = input()
      .regions('KR', 'JP')
      .horizon(8)
      .capacity('KR', { cpu: 4 })
      .capacity('JP', { cpu: 4 })
      .carbon('KR', [500, 500, 100, 100, 500, 500, 500, 500])
      .carbon('JP', [300, 300, 300, 300, 300, 300, 300, 300])
      .job(job('a').cpu(4).runtime(2).window(0, 7), job('b').cpu(4).runtime(2).window(0, 7))
      .obj();
    const [fcfs, greenest] = await Promise.all(['fcfs', 'greenest-now'].map((n) => STRATEGIES.find((s) => s.name === n)!.create(context())));
    const plan = async (s: Strategy) => Object.fromEntries((await s.plan(structuredClone(raw), {})).plans.map((p) => [p.job_id, [p.region, p.start_slot]]));
    expect(await plan(fcfs!)).toEqual({ a: ['KR', 0], b: ['JP', 0] });
    expect(await plan(greenest!)).toEqual({ a: ['JP', 0], b: ['KR', 0] });
  });

  it('wait-below-threshold waits for the dip, held at its latest start until then', async () => {
    const ci = [500, 500, 500, 100, 100, 500, 500, 500];
    const raw = input().regions('KR').horizon(8).capacity('KR', { cpu: 8 }).carbon('KR', ci).job(job('a').runtime(2).window(0, 7)).obj();
    const strategy = await waitBelowThreshold({ thresholdGco2PerKwh: 200 }).create(context());
    expect((await strategy.plan(structuredClone(raw), {})).plans[0]).toMatchObject({ start_slot: 6 });
    const inDip = input().regions('KR').horizon(8).capacity('KR', { cpu: 8 }).carbon('KR', ci.slice(3)).job(job('a').runtime(2).window(0, 4)).obj();
    expect((await strategy.plan(inDip, {})).plans[0]).toMatchObject({ start_slot: 0 });
  });
});
