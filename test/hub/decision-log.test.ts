import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as fsPromises from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CsvDecisionLog } from '../../src/hub/decision-log.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { DECISION_COLUMNS, type CycleDecisions } from '../../src/scheduler/decisions.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';
import { input, job } from '../support/optimizer-builders.js';

/** `appendFile` of the decision log: the next append to a `decisions.csv` writes part of its text, then fails (a disk that fills up). */
const diskFull = vi.hoisted(() => ({ nextAppendWritesChars: undefined as number | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof fsPromises>();
  return {
    ...actual,
    appendFile: async (...args: Parameters<typeof actual.appendFile>) => {
      const [path, data, options] = args;
      const chars = diskFull.nextAppendWritesChars;
      if (chars !== undefined && typeof path === 'string' && path.endsWith('decisions.csv')) {
        diskFull.nextAppendWritesChars = undefined;
        await actual.appendFile(path, String(data).slice(0, chars), options);
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      }
      return actual.appendFile(...args);
    },
  };
});

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** A cycle that places `jobId` in KR at slot 0: one decision. */
function cycle(jobId: string): CycleDecisions {
  const raw = input().regions('KR').horizon(2).capacity('KR', { cpu: 4 }).carbon('KR', [100, 200]).job(job(jobId).runtime(1).window(0, 1)).obj();
  return {
    at: T0,
    strategy: 'highs',
    input: raw,
    plans: [{ job_id: jobId, region: 'KR', pool: 'FAST', start_slot: 0, cost_gco2: 1, migration_cost_gco2: 0 }],
    placed: [{ job_id: jobId, cluster: 'carbon-kr', region: 'KR', planned_start: new Date(T0).toISOString(), co2_gco2: 1 }],
    migrations: [],
    previous: new Map(),
  };
}

let dir: string;
let metrics: Metrics;
let log: CapturedLogger;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'caspian-decision-log-'));
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
});
afterEach(() => {
  diskFull.nextAppendWritesChars = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('CsvDecisionLog file header', () => {
  it('takes a cycle of 200,000 decisions (more than a spread call can pass) and keeps the last ones in memory', () => {
    const decisions = new CsvDecisionLog({ memoryLimit: 10 }, { logger: log.logger, metrics });
    const one = cycle('job-0');
    const placed = Array.from({ length: 200_000 }, (_, i) => ({ ...one.placed[0]!, job_id: `job-${i}` }));
    decisions.record({ ...one, placed });
    expect(decisions.recent(10).map((d) => d.job_id)).toEqual(Array.from({ length: 10 }, (_, i) => `job-${199_990 + i}`));
  });

  it('cuts an append a full disk cut short back, so that no half row runs into the next', async () => {
    const path = join(dir, 'decisions.csv');
    const decisions = new CsvDecisionLog({ path, memoryLimit: 10 }, { logger: log.logger, metrics });
    decisions.record(cycle('a'));
    await decisions.close();
    // The disk fills while b's row is written: 30 characters of it reach the file, then ENOSPC.
    diskFull.nextAppendWritesChars = 30;
    decisions.record(cycle('b'));
    await decisions.close();
    expect(log.messages()).toContain(`decision log: cannot append to ${path}; this cycle's decisions are kept in memory only`);
    // Room again: the next cycle's row is appended.
    decisions.record(cycle('c'));
    await decisions.close();

    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(DECISION_COLUMNS.join(','));
    // Every row has the file's columns, and c's row is c's own (it used to be b's first 30 characters, then c's row, on one line).
    expect(lines.slice(1).map((l) => l.split(',').length)).toEqual(lines.slice(1).map(() => DECISION_COLUMNS.length));
    expect(lines.at(-1)).toMatch(/^2026-01-05T00:00:00\.000Z,c,carbon-kr,/);
  });

  it('writes the header with the first append that succeeds, not with the first one tried', async () => {
    const path = join(dir, 'decisions.csv');
    // A directory where the file should be: the directory check passes, the append itself fails.
    mkdirSync(path);
    const decisions = new CsvDecisionLog({ path, memoryLimit: 10 }, { logger: log.logger, metrics });
    decisions.record(cycle('a'));
    await decisions.close();
    expect(await metricValue(metrics, 'caspian_decision_log_failures_total')).toBe(1);

    rmSync(path, { recursive: true });
    decisions.record(cycle('b'));
    await decisions.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(DECISION_COLUMNS.join(','));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^[^,]+,b,carbon-kr,/);
  });

  it('writes it once to a destination that is not a regular file (a FIFO, /dev/stdout), whose size always reads 0', async () => {
    const fifo = join(dir, 'decisions.fifo');
    execFileSync('mkfifo', [fifo]);
    // A reader that stays open, as a log collector reading a container's stdout does.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      const decisions = new CsvDecisionLog({ path: fifo, memoryLimit: 10 }, { logger: log.logger, metrics });
      for (const id of ['a', 'b', 'c']) decisions.record(cycle(id));
      await decisions.close();
      const buffer = Buffer.alloc(65_536);
      const lines = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, null)).toString('utf8').trimEnd().split('\n');
      expect(lines).toEqual([DECISION_COLUMNS.join(','), expect.stringMatching(/,a,/), expect.stringMatching(/,b,/), expect.stringMatching(/,c,/)]);
    } finally {
      closeSync(fd);
    }
  });

  it('writes it once per file: again after the file was rotated away or truncated while the hub runs', async () => {
    const path = join(dir, 'logs', 'decisions.csv');
    const decisions = new CsvDecisionLog({ path, memoryLimit: 10 }, { logger: log.logger, metrics });
    const rowsOf = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
    decisions.record(cycle('a'));
    decisions.record(cycle('b'));
    await decisions.close();
    expect(rowsOf(path)).toEqual([DECISION_COLUMNS.join(','), expect.stringMatching(/,a,/), expect.stringMatching(/,b,/)]);

    renameSync(path, `${path}.1`);
    decisions.record(cycle('c'));
    await decisions.close();
    expect(rowsOf(path)).toEqual([DECISION_COLUMNS.join(','), expect.stringMatching(/,c,/)]);

    truncateSync(path);
    decisions.record(cycle('d'));
    await decisions.close();
    expect(rowsOf(path)).toEqual([DECISION_COLUMNS.join(','), expect.stringMatching(/,d,/)]);
  });
});
