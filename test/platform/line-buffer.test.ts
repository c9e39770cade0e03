import { describe, expect, it } from 'vitest';
import { LineBuffer } from '../../src/platform/line-buffer.js';

/** A file descriptor stand-in: records what each write got, answering with `script`'s outcomes in turn (then all written). */
function writer(script: ('ok' | 'EAGAIN' | 'EPIPE' | number)[] = []) {
  const writes: string[] = [];
  let calls = 0;
  const write = (_fd: number, data: Buffer): number => {
    calls++;
    const outcome = script.shift() ?? 'ok';
    if (outcome === 'EAGAIN' || outcome === 'EPIPE') throw Object.assign(new Error(outcome), { code: outcome });
    const n = outcome === 'ok' ? data.length : outcome;
    writes.push(data.subarray(0, n).toString('utf8'));
    return n;
  };
  return { write, writes, calls: () => calls };
}

describe('LineBuffer', () => {
  it('writes the gathered lines in one write once they reach minBytes, and the rest when flushed', () => {
    const fd = writer();
    const buffer = new LineBuffer(1, 10, fd.write);
    buffer.write('aaaa\n');
    expect(fd.writes).toEqual([]);
    buffer.write('bbbbb\n');
    expect(fd.writes).toEqual(['aaaa\nbbbbb\n']);
    buffer.write('c\n');
    buffer.flushSync();
    buffer.flushSync();
    expect(fd.writes).toEqual(['aaaa\nbbbbb\n', 'c\n']);
  });

  it('finishes a partial write, and waits out a full pipe (EAGAIN)', () => {
    const fd = writer([3, 'EAGAIN', 'EAGAIN']);
    const buffer = new LineBuffer(1, 1, fd.write);
    buffer.write('héllo\n');
    expect(fd.writes.join('')).toBe('héllo\n');
  });

  it('drops every line, without retrying or throwing, once the reader has gone (EPIPE)', () => {
    const fd = writer(['EPIPE']);
    const buffer = new LineBuffer(1, 1, fd.write);
    expect(() => buffer.write('a\n')).not.toThrow();
    buffer.write('b\n');
    buffer.flushSync();
    expect(fd.calls()).toBe(1);
    expect(fd.writes).toEqual([]);
  });

  it('drops a batch a pipe stays full for, and writes the next', () => {
    const fd = writer(Array.from({ length: 101 }, () => 'EAGAIN' as const));
    const buffer = new LineBuffer(1, 1, fd.write);
    buffer.write('lost\n');
    buffer.write('kept\n');
    expect(fd.writes).toEqual(['kept\n']);
  });
});
