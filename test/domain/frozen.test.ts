import { describe, expect, it } from 'vitest';
import { deepFreeze, frozenCopy } from '../../src/domain/frozen.js';

describe('frozenCopy', () => {
  it('copies plain data deeply, freezes every level and leaves the original alone', () => {
    const original = { a: 1, b: 'x', c: null, d: undefined, list: [1, { e: [2] }], nested: { f: true, g: { h: 3 } } };
    const copy = frozenCopy(original);
    expect(copy).toEqual(original);
    expect(copy).not.toBe(original);
    for (const part of [copy, copy.list, copy.list[1], (copy.list[1] as { e: number[] }).e, copy.nested, copy.nested.g]) expect(Object.isFrozen(part)).toBe(true);
    expect(Object.isFrozen(original)).toBe(false);
    expect(Object.isFrozen(original.nested.g)).toBe(false);
    original.nested.g.h = 4;
    expect(copy.nested.g.h).toBe(3);
  });

  it('gives every empty list and map one shared frozen value, and leaves the caller\'s alone', () => {
    const first = { list: [] as number[], map: {} as Record<string, number> };
    const second = frozenCopy({ list: [], map: {} });
    const copy = frozenCopy(first);
    expect(copy).toEqual(first);
    expect(copy.list).toBe(second.list);
    expect(copy.map).toBe(second.map);
    expect(Object.isFrozen(copy.list) && Object.isFrozen(copy.map)).toBe(true);
    first.list.push(1);
    first.map.k = 1;
    expect(copy).toEqual({ list: [], map: {} });
  });

  it('returns primitives as they are', () => {
    for (const value of [0, 'text', true, null, undefined]) expect(frozenCopy(value)).toBe(value);
  });
});

describe('deepFreeze', () => {
  it('freezes in place, every level', () => {
    const value = { a: { b: [{ c: 1 }] } };
    expect(deepFreeze(value)).toBe(value);
    expect(Object.isFrozen(value.a.b[0])).toBe(true);
  });
});
