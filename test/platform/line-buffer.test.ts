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

describe('LineBuffer when a batch is dropped', () => {
  /** A file descriptor stand-in: answers each write with the scripted outcome (then takes everything), recording what landed. */
  function fd(script: (number | string)[]) {
    let landed = '';
    const write = (_fd: number, data: Buffer): number => {
      const outcome = script.shift() ?? data.length;
      if (typeof outcome === 'string') throw Object.assign(new Error(outcome), { code: outcome });
      landed += data.subarray(0, outcome).toString('utf8');
      return outcome;
    };
    return { write, landed: () => landed };
  }

  it('writes the end of a line half written before its batch was given up first, so that no line is torn', () => {
    // A pipe or socket with room for 10 bytes, then full for longer than the buffer waits (EAGAIN 101 times).
    const out = fd([10, ...Array.from({ length: 101 }, () => 'EAGAIN')]);
    const buffer = new LineBuffer(1, 1, out.write);
    buffer.write('{"msg":"first line of the dropped batch"}\n');
    buffer.write('{"msg":"kept"}\n');
    buffer.flushSync();
    // Whatever was dropped, every line that reaches the reader is one whole JSON line (the reader once got
    // '{"msg":"fi{"msg":"kept"}', losing the line after the torn one too).
    const lines = out.landed().split('\n').filter(Boolean);
    expect(lines).toContain('{"msg":"kept"}');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it('drops only the batch a full disk (ENOSPC) refused, and writes the next', () => {
    // stdout redirected to a file (`./start-caspian.sh --detach` appends to caspian.log) on a disk that fills up,
    // then has room again (logrotate ran, a volume grew).
    const out = fd(['ENOSPC']);
    const buffer = new LineBuffer(1, 1, out.write);
    buffer.write('{"msg":"lost while the disk was full"}\n');
    buffer.write('{"msg":"store failed: every write is refused until the hub restarts"}\n');
    buffer.flushSync();
    // EPIPE means the reader is gone for good; ENOSPC only that this write found no room.
    expect(out.landed()).toContain('store failed');
  });
});

describe('LineBuffer counts the lines it loses', () => {
  function counting(script: (number | string)[]) {
    const drops: [string, number][] = [];
    const write = (_fd: number, data: Buffer): number => {
      const outcome = script.shift() ?? data.length;
      if (typeof outcome === 'string') throw Object.assign(new Error(outcome), { code: outcome });
      return outcome;
    };
    return { buffer: new LineBuffer(1, 1000, write, (reason, lines) => drops.push([reason, lines])), drops };
  }

  it.each([
    { name: 'a full disk', script: ['ENOSPC'], drops: [['write_error', 3]] },
    { name: 'a pipe full for too long', script: Array.from({ length: 101 }, () => 'EAGAIN'), drops: [['pipe_full', 3]] },
    // 5 bytes landed: the first line keeps its end for the next write, two lines are lost.
    { name: 'a pipe full after part of the first line', script: [5, ...Array.from({ length: 101 }, () => 'EAGAIN')], drops: [['pipe_full', 2]] },
    { name: 'a reader gone, then every later line', script: ['EPIPE'], drops: [['reader_gone', 3], ['reader_gone', 1]] },
    { name: 'nothing when every line lands', script: [], drops: [] },
  ])('$name', ({ script, drops }) => {
    const out = counting([...script]);
    for (const line of ['{"a":1}\n', '{"b":2}\n', '{"c":3}\n']) out.buffer.write(line);
    out.buffer.flushSync();
    out.buffer.write('{"d":4}\n');
    expect(out.drops).toEqual(drops);
  });
});
