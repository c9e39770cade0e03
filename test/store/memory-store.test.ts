import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { storeConformance } from './store-conformance.js';

storeConformance('memory', async () => new MemoryStore());

describe('MemoryStore', () => {
  it('is named memory', () => {
    expect(new MemoryStore().name).toBe('memory');
  });

  it('refuses an update that changes the id', async () => {
    const store = new MemoryStore();
    await store.insert(appWrapper('a').obj());
    await expect(store.update('a', (cur) => ({ ...cur, jobId: 'b' }))).rejects.toThrow('may not change its id');
    expect(await store.get('b')).toBeUndefined();
    expect((await store.get('a'))?.jobId).toBe('a');
  });

  it('starts with its initial values, in their order, counted, without writing them through', async () => {
    const written: string[] = [];
    const store = new MemoryStore({
      initial: [appWrapper('b').phase('Running').migrating().obj(), appWrapper('a').obj()],
      writeThrough: (next) => written.push(next.jobId),
    });
    expect((await store.list()).map((aw) => aw.jobId)).toEqual(['b', 'a']);
    expect(Object.isFrozen(await store.get('b'))).toBe(true);
    expect(await store.counts()).toMatchObject({ byPhase: { Running: 1, Pending: 1 }, migrating: 1 });
    expect(written).toEqual([]);
  });

  it('writes each insert and change through before it lands, and not the ones refused earlier', async () => {
    const written: [string, string, string | undefined][] = [];
    const store = new MemoryStore({ writeThrough: (next, previous) => written.push([next.jobId, next.phase, previous?.phase]) });
    await store.insert(appWrapper('a').obj());
    await expect(store.insert(appWrapper('a').obj())).rejects.toThrow('already exists');
    await store.update('a', (cur) => ({ ...cur, phase: 'Planned' }));
    await store.update('a', () => undefined);
    await expect(store.update('a', (cur) => ({ ...cur, jobId: 'b' }))).rejects.toThrow('may not change its id');
    expect(written).toEqual([
      ['a', 'Pending', undefined],
      ['a', 'Planned', 'Pending'],
    ]);
  });

  it('leaves everything as it was when the write-through throws', async () => {
    let fail = false;
    const store = new MemoryStore({
      writeThrough: () => {
        if (fail) throw new Error('disk full');
      },
    });
    await store.insert(appWrapper('a').obj());
    fail = true;
    await expect(store.insert(appWrapper('b').obj())).rejects.toThrow('disk full');
    await expect(store.update('a', (cur) => ({ ...cur, phase: 'Planned' }))).rejects.toThrow('disk full');
    expect((await store.list()).map((aw) => [aw.jobId, aw.phase])).toEqual([['a', 'Pending']]);
    expect((await store.counts()).byPhase).toMatchObject({ Pending: 1, Planned: 0 });
  });
});
