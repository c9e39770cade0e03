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
});
