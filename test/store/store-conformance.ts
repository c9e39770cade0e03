import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PHASES, type AppWrapper, type Phase } from '../../src/domain/app-wrapper.js';
import { ConflictError, NotFoundError } from '../../src/domain/errors.js';
import type { Store, StoreCounts } from '../../src/store/types.js';
import { appWrapper } from '../support/app-wrapper-builder.js';

/** An AppWrapper with every optional nested part filled in, so that freezing and copying are tested all the way down. */
function fullAppWrapper(jobId: string): AppWrapper {
  const aw = appWrapper(jobId).phase('Running').target('carbon-jp').placement({ cluster: 'carbon-kr', jobName: `${jobId}-g2`, generation: 2, pool: 'FAST' }).migrating().obj();
  return {
    ...aw,
    spec: { ...aw.spec, affinityRegions: ['KR', 'JP'], image: 'busybox:1.36', command: ['sleep', '60'] },
    staleJobs: [{ cluster: 'carbon-cn', jobName: jobId }],
    metadata: { migrated_from: 'carbon-kr', migration_time: '1767571200.000' },
    plannedStartAt: aw.submittedAt,
    co2EstimateG: 12.5,
  };
}

function zeroCounts(): StoreCounts {
  return { byPhase: Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>, migrating: 0, unconfirmed: 0 };
}

function countsOf(byPhase: Partial<Record<Phase, number>>, migrating = 0, unconfirmed = 0): StoreCounts {
  const counts = zeroCounts();
  return { byPhase: { ...counts.byPhase, ...byPhase }, migrating, unconfirmed };
}

/** Every object reachable from `value` that is not frozen, by path. */
function unfrozenPaths(value: unknown, path = '$'): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const own = Object.isFrozen(value) ? [] : [path];
  return own.concat(Object.entries(value).flatMap(([key, child]) => unfrozenPaths(child, `${path}.${key}`)));
}

function withPhase(phase: Phase): (cur: AppWrapper) => AppWrapper {
  return (cur) => ({ ...cur, phase });
}

/**
 * The contract of `Store` (src/store/types.ts), which every backend must pass:
 * `storeConformance('memory', async () => new MemoryStore())`. Each test gets a fresh, empty store.
 */
export function storeConformance(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('insert and get', () => {
      it('reports no fault while it works', async () => {
        await store.insert(appWrapper('a').obj());
        expect(store.fault()).toBeUndefined();
      });

      it('gets back what was inserted', async () => {
        const aw = fullAppWrapper('a');
        await store.insert(aw);
        expect(await store.get('a')).toEqual(aw);
      });

      it('gets undefined for an unknown id', async () => {
        expect(await store.get('nope')).toBeUndefined();
        await store.insert(appWrapper('a').obj());
        expect(await store.get('b')).toBeUndefined();
      });

      it('rejects a duplicate id with ConflictError and keeps the first', async () => {
        await store.insert(appWrapper('a').cpu(1).obj());
        await expect(store.insert(appWrapper('a').cpu(2).phase('Planned').obj())).rejects.toBeInstanceOf(ConflictError);
        expect((await store.get('a'))?.spec.cpu).toBe(1);
        expect(await store.list()).toHaveLength(1);
        expect(await store.counts()).toEqual(countsOf({ Pending: 1 }));
      });

      it("keeps its own copy: the caller's object stays mutable and changing it changes nothing stored", async () => {
        const aw = fullAppWrapper('a');
        await store.insert(aw);
        aw.phase = 'Failed';
        aw.spec.cpu = 99;
        aw.spec.affinityRegions.push('CN');
        aw.staleJobs.push({ cluster: 'x', jobName: 'y' });
        (aw.placement as { cluster: string }).cluster = 'elsewhere';
        const stored = await store.get('a');
        expect(stored).toEqual(fullAppWrapper('a'));
        expect(await store.counts()).toEqual(countsOf({ Running: 1 }, 1));
      });
    });

    describe('list', () => {
      it('lists nothing in an empty store', async () => {
        expect(await store.list()).toEqual([]);
      });

      it('lists in submission order, which updates do not change', async () => {
        for (const id of ['c', 'a', 'b', 'e', 'd']) await store.insert(appWrapper(id).obj());
        await store.update('a', withPhase('Planned'));
        await store.update('c', withPhase('Cancelled'));
        expect((await store.list()).map((aw) => aw.jobId)).toEqual(['c', 'a', 'b', 'e', 'd']);
      });

      it('filters by phase, by target cluster, and by both', async () => {
        await store.insert(appWrapper('p1').obj());
        await store.insert(appWrapper('k1').phase('Planned').target('carbon-kr').obj());
        await store.insert(appWrapper('j1').phase('Planned').target('carbon-jp').obj());
        await store.insert(appWrapper('k2').phase('Running').target('carbon-kr').obj());
        await store.insert(appWrapper('k3').phase('Planned').target('carbon-kr').obj());
        const cases: { filter: Parameters<Store['list']>[0]; want: string[] }[] = [
          { filter: undefined, want: ['p1', 'k1', 'j1', 'k2', 'k3'] },
          { filter: {}, want: ['p1', 'k1', 'j1', 'k2', 'k3'] },
          { filter: { phase: 'Pending' }, want: ['p1'] },
          { filter: { phase: 'Planned' }, want: ['k1', 'j1', 'k3'] },
          { filter: { phase: 'Succeeded' }, want: [] },
          { filter: { cluster: 'carbon-kr' }, want: ['k1', 'k2', 'k3'] },
          { filter: { cluster: 'carbon-cn' }, want: [] },
          { filter: { phase: 'Planned', cluster: 'carbon-kr' }, want: ['k1', 'k3'] },
          { filter: { phase: 'Running', cluster: 'carbon-jp' }, want: [] },
        ];
        for (const { filter, want } of cases) {
          expect((await store.list(filter)).map((aw) => aw.jobId), JSON.stringify(filter)).toEqual(want);
        }
      });

      it('filters on the current values after updates', async () => {
        await store.insert(appWrapper('a').obj());
        await store.update('a', (cur) => ({ ...cur, phase: 'Planned', targetCluster: 'carbon-cn' }));
        expect((await store.list({ phase: 'Pending' })).map((aw) => aw.jobId)).toEqual([]);
        expect((await store.list({ phase: 'Planned', cluster: 'carbon-cn' })).map((aw) => aw.jobId)).toEqual(['a']);
      });
    });

    describe('update', () => {
      it('hands change the current value and stores what it returns', async () => {
        await store.insert(appWrapper('a').obj());
        let seen: AppWrapper | undefined;
        const updated = await store.update('a', (cur) => {
          seen = cur;
          return { ...cur, phase: 'Planned', targetCluster: 'carbon-kr', plannedStartAt: cur.submittedAt + 60_000 };
        });
        expect(seen).toEqual(appWrapper('a').obj());
        expect(updated).toMatchObject({ jobId: 'a', phase: 'Planned', targetCluster: 'carbon-kr' });
        expect(await store.get('a')).toEqual(updated);
      });

      it('applies successive changes each to the result of the last', async () => {
        await store.insert(appWrapper('a').cpu(1).obj());
        for (let i = 0; i < 5; i++) await store.update('a', (cur) => ({ ...cur, spec: { ...cur.spec, cpu: cur.spec.cpu * 2 } }));
        expect((await store.get('a'))?.spec.cpu).toBe(32);
      });

      it('loses no write when updates to one id run concurrently', async () => {
        await store.insert(appWrapper('a').cpu(0).obj());
        await Promise.all(Array.from({ length: 50 }, () => store.update('a', (cur) => ({ ...cur, spec: { ...cur.spec, cpu: cur.spec.cpu + 1 } }))));
        expect((await store.get('a'))?.spec.cpu).toBe(50);
      });

      it('keeps concurrent updates to different ids apart', async () => {
        const ids = ['a', 'b', 'c'];
        for (const id of ids) await store.insert(appWrapper(id).cpu(0).obj());
        await Promise.all(
          ids.flatMap((id, i) => Array.from({ length: i + 1 }, () => store.update(id, (cur) => ({ ...cur, spec: { ...cur.spec, cpu: cur.spec.cpu + 1 } })))),
        );
        expect((await store.list()).map((aw) => [aw.jobId, aw.spec.cpu])).toEqual([
          ['a', 1],
          ['b', 2],
          ['c', 3],
        ]);
      });

      it('leaves the value untouched when change returns undefined, and resolves with it', async () => {
        const aw = fullAppWrapper('a');
        await store.insert(aw);
        const before = await store.get('a');
        const result = await store.update('a', () => undefined);
        expect(result).toEqual(aw);
        expect(await store.get('a')).toEqual(before);
        expect(await store.counts()).toEqual(countsOf({ Running: 1 }, 1));
      });

      it('rejects an unknown id with NotFoundError without calling change', async () => {
        await store.insert(appWrapper('a').obj());
        let called = false;
        await expect(
          store.update('nope', (cur) => {
            called = true;
            return cur;
          }),
        ).rejects.toBeInstanceOf(NotFoundError);
        expect(called).toBe(false);
        expect(await store.get('nope')).toBeUndefined();
      });

      it('rejects with what change throws and writes nothing', async () => {
        await store.insert(appWrapper('a').obj());
        const boom = new ConflictError('no');
        await expect(
          store.update('a', () => {
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.get('a')).toEqual(appWrapper('a').obj());
        expect(await store.counts()).toEqual(countsOf({ Pending: 1 }));
      });

      it('has persisted the change when its promise resolves', async () => {
        await store.insert(appWrapper('a').obj());
        await store.update('a', withPhase('Planned'));
        expect((await store.get('a'))?.phase).toBe('Planned');
        expect((await store.list({ phase: 'Planned' })).map((aw) => aw.jobId)).toEqual(['a']);
      });
    });

    describe('frozen snapshots', () => {
      it('hands out deeply frozen values from get, list and update', async () => {
        await store.insert(fullAppWrapper('a'));
        expect(unfrozenPaths(await store.get('a'))).toEqual([]);
        expect(unfrozenPaths((await store.list())[0])).toEqual([]);
        const updated = await store.update('a', (cur) => ({
          ...cur,
          staleJobs: [...cur.staleJobs, { cluster: 'carbon-kr', jobName: 'a-g2' }],
          placement: { cluster: 'carbon-jp', jobName: 'a-g3', generation: 3, pool: 'FAST', createdAt: cur.updatedAt },
          metadata: { ...cur.metadata, migrated_from: 'carbon-jp' },
        }));
        expect(unfrozenPaths(updated)).toEqual([]);
        expect(unfrozenPaths(await store.get('a'))).toEqual([]);
      });

      it('hands change a frozen value, so that it cannot edit the stored one in place', async () => {
        await store.insert(fullAppWrapper('a'));
        await expect(
          store.update('a', (cur) => {
            (cur as { phase: Phase }).phase = 'Failed';
            return undefined;
          }),
        ).rejects.toBeInstanceOf(TypeError);
        expect((await store.get('a'))?.phase).toBe('Running');
      });

      it('keeps a snapshot as it was when later updates land', async () => {
        await store.insert(appWrapper('a').obj());
        const before = await store.get('a');
        await store.update('a', (cur) => ({ ...cur, phase: 'Planned', targetCluster: 'carbon-kr' }));
        expect(before?.phase).toBe('Pending');
        expect(before?.targetCluster).toBeUndefined();
      });
    });

    describe('remove', () => {
      it('forgets the given AppWrappers for good, skipping unknown ids, and counts what went', async () => {
        await store.insert(appWrapper('a').phase('Succeeded').obj());
        await store.insert({ ...appWrapper('b').phase('Running').migrating().obj(), unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'b-g2' }] });
        await store.insert(appWrapper('c').obj());
        expect(await store.counts()).toEqual(countsOf({ Pending: 1, Running: 1, Succeeded: 1 }, 1, 1));
        expect(await store.remove(['a', 'b', 'nope'])).toBe(2);
        expect(await store.get('a')).toBeUndefined();
        expect((await store.list()).map((aw) => aw.jobId)).toEqual(['c']);
        expect(await store.counts()).toEqual(countsOf({ Pending: 1 }));
        await expect(store.update('a', withPhase('Planned'))).rejects.toBeInstanceOf(NotFoundError);
      });

      it('lets a removed id be submitted again', async () => {
        await store.insert(appWrapper('a').phase('Cancelled').obj());
        await store.remove(['a']);
        await store.insert(appWrapper('a').obj());
        expect((await store.get('a'))?.phase).toBe('Pending');
      });

      it('removes nothing for an empty list', async () => {
        await store.insert(appWrapper('a').obj());
        expect(await store.remove([])).toBe(0);
        expect(await store.counts()).toEqual(countsOf({ Pending: 1 }));
      });
    });

    describe('counts', () => {
      it('counts nothing in an empty store, with every phase present', async () => {
        expect(await store.counts()).toEqual(zeroCounts());
      });

      it('counts inserts by phase and migrating', async () => {
        await store.insert(appWrapper('a').obj());
        await store.insert(appWrapper('b').obj());
        await store.insert(appWrapper('c').phase('Running').migrating().obj());
        await store.insert(appWrapper('d').phase('Succeeded').obj());
        expect(await store.counts()).toEqual(countsOf({ Pending: 2, Running: 1, Succeeded: 1 }, 1));
      });

      it('keeps byPhase, migrating and unconfirmed right through a life of updates', async () => {
        await store.insert(appWrapper('a').obj());
        await store.insert(appWrapper('b').obj());
        const steps: { id: string; change: (cur: AppWrapper) => AppWrapper | undefined; want: StoreCounts }[] = [
          { id: 'a', change: withPhase('Planned'), want: countsOf({ Pending: 1, Planned: 1 }) },
          { id: 'a', change: withPhase('Planned'), want: countsOf({ Pending: 1, Planned: 1 }) },
          { id: 'a', change: (cur) => ({ ...cur, unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'a' }] }), want: countsOf({ Pending: 1, Planned: 1 }, 0, 1) },
          { id: 'a', change: (cur) => ({ ...cur, unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'a' }, { cluster: 'carbon-jp', jobName: 'a' }] }), want: countsOf({ Pending: 1, Planned: 1 }, 0, 1) },
          { id: 'a', change: (cur) => ({ ...cur, unconfirmedJobs: [] }), want: countsOf({ Pending: 1, Planned: 1 }) },
          { id: 'a', change: withPhase('Dispatched'), want: countsOf({ Pending: 1, Dispatched: 1 }) },
          { id: 'a', change: withPhase('Running'), want: countsOf({ Pending: 1, Running: 1 }) },
          { id: 'a', change: (cur) => ({ ...cur, migrating: true }), want: countsOf({ Pending: 1, Running: 1 }, 1) },
          { id: 'a', change: (cur) => ({ ...cur, migrating: true, targetCluster: 'carbon-cn' }), want: countsOf({ Pending: 1, Running: 1 }, 1) },
          { id: 'a', change: () => undefined, want: countsOf({ Pending: 1, Running: 1 }, 1) },
          { id: 'a', change: (cur) => ({ ...cur, phase: 'Dispatched', migrating: false }), want: countsOf({ Pending: 1, Dispatched: 1 }) },
          { id: 'b', change: withPhase('Unschedulable'), want: countsOf({ Unschedulable: 1, Dispatched: 1 }) },
          { id: 'b', change: withPhase('Cancelled'), want: countsOf({ Cancelled: 1, Dispatched: 1 }) },
          { id: 'a', change: (cur) => ({ ...cur, phase: 'Succeeded', migrating: false }), want: countsOf({ Cancelled: 1, Succeeded: 1 }) },
        ];
        for (const [i, { id, change, want }] of steps.entries()) {
          await store.update(id, change);
          expect(await store.counts(), `step ${i}`).toEqual(want);
        }
      });

      it('does not count a rejected insert or update', async () => {
        await store.insert(appWrapper('a').phase('Running').migrating().obj());
        await expect(store.insert(appWrapper('a').obj())).rejects.toBeInstanceOf(ConflictError);
        await expect(store.update('b', withPhase('Planned'))).rejects.toBeInstanceOf(NotFoundError);
        await expect(
          store.update('a', () => {
            throw new Error('no');
          }),
        ).rejects.toThrow('no');
        expect(await store.counts()).toEqual(countsOf({ Running: 1 }, 1));
      });

      it('hands out a copy: changing the result changes no later count', async () => {
        await store.insert(appWrapper('a').obj());
        const counts = await store.counts();
        counts.byPhase.Pending = 42;
        counts.migrating = 7;
        expect(await store.counts()).toEqual(countsOf({ Pending: 1 }));
      });

      it('agrees with list after concurrent updates', async () => {
        for (const id of ['a', 'b', 'c', 'd']) await store.insert(appWrapper(id).obj());
        await Promise.all([
          store.update('a', withPhase('Planned')),
          store.update('b', withPhase('Planned')),
          store.update('a', (cur) => (cur.phase === 'Planned' ? withPhase('Dispatched')(cur) : undefined)),
          store.update('c', withPhase('Cancelled')),
        ]);
        const counts = await store.counts();
        for (const phase of PHASES) expect(counts.byPhase[phase], phase).toBe((await store.list({ phase })).length);
      });
    });
  });
}
