import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FileTraceProvider, TraceFileError, type FileTraceOptions } from '../../src/carbon/file-provider.js';
import { FakeClock } from '../support/fake-clock.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/carbon/kr-2025-03-hourly.csv', import.meta.url));
const HOUR = 3_600_000;
const TRACE_START = Date.UTC(2025, 2, 3);
const TRACE_SPAN = 8 * 24 * HOUR;
const HEADER =
  'Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),Carbon intensity gCO₂eq/kWh (LCA),Low carbon percentage,Renewable percentage,Data source,Data estimated,Data estimation method';

function trace(clock: FakeClock, options: Partial<FileTraceOptions> = {}, files?: Record<string, string>): FileTraceProvider {
  const readFile = files ? (path: string) => files[path] ?? '' : undefined;
  return new FileTraceProvider({ paths: [FIXTURE], loop: true, zones: {}, emissionFactor: 'lifecycle', ...options }, clock, readFile);
}

describe('FileTraceProvider', () => {
  it('replays an Electricity Maps hourly export: current is the value in effect now', async () => {
    const clock = new FakeClock(Date.UTC(2025, 2, 3, 2, 30));
    expect(await trace(clock).current('KR')).toEqual({ zone: 'KR', at: Date.UTC(2025, 2, 3, 2), gco2PerKwh: 428.89, source: 'file', kind: 'measured', fetchedAt: clock.now() });
  });

  it('reads the direct column when asked', async () => {
    const clock = new FakeClock(Date.UTC(2025, 2, 3, 2, 30));
    expect((await trace(clock, { emissionFactor: 'direct' }).current('KR')).gco2PerKwh).toBe(373.14);
  });

  it('forecasts from the trace: the point in effect at the start, then each hour', async () => {
    const clock = new FakeClock(Date.UTC(2025, 2, 3, 0, 30));
    const points = await trace(clock).forecast('KR', clock.now(), clock.now() + 3 * HOUR);
    expect(points.map((p) => [new Date(p.at).toISOString(), p.gco2PerKwh])).toEqual([
      ['2025-03-03T00:00:00.000Z', 419.66],
      ['2025-03-03T01:00:00.000Z', 427.76],
      ['2025-03-03T02:00:00.000Z', 428.89],
      ['2025-03-03T03:00:00.000Z', expect.any(Number)],
    ]);
  });

  it('loops over its span so that a recorded week replays forever, across the wrap', async () => {
    const clock = new FakeClock(TRACE_START + 10 * TRACE_SPAN + 2 * HOUR + 60_000);
    const provider = trace(clock);
    expect(await provider.current('KR')).toMatchObject({ at: TRACE_START + 10 * TRACE_SPAN + 2 * HOUR, gco2PerKwh: 428.89 });
    const wrap = TRACE_START + 3 * TRACE_SPAN;
    const points = await provider.forecast('KR', wrap - HOUR, wrap + HOUR);
    expect(points.map((p) => p.at)).toEqual([wrap - HOUR, wrap]);
    expect(points[1]?.gco2PerKwh).toBe(419.66);
  });

  it('without looping, has nothing past the end of the trace', async () => {
    const clock = new FakeClock(TRACE_START + TRACE_SPAN + 5 * HOUR);
    await expect(trace(clock, { loop: false }).current('KR')).rejects.toMatchObject({ reason: 'stale' });
  });

  it('answers for hub zones mapped onto file zones, and fails zones the file does not hold', async () => {
    const clock = new FakeClock(Date.UTC(2025, 2, 3, 2, 30));
    expect((await trace(clock, { zones: { 'KR-hub': 'KR' } }).current('KR-hub')).gco2PerKwh).toBe(428.89);
    await expect(trace(clock).current('JP-TK')).rejects.toThrow(/no values for zone JP-TK/);
  });

  it('reads plain CSV and JSON series, merged by zone, and leaves gaps as gaps', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 3, 30));
    const kr = ['00:00,400', '01:00,410', '02:00,', '03:00,', '04:00,420', '05:00,415'].map((r) => `KR,2026-01-01T${r.replace(',', ':00Z,')}`);
    const provider = trace(clock, { paths: ['a.csv', 'b.json'], loop: false }, {
      'a.csv': `zone,datetime,gco2_per_kwh\n${kr.join('\n')}\n`,
      'b.json': JSON.stringify([{ zone: 'JP-TK', datetime: '2026-01-01T03:00:00Z', gco2_per_kwh: 480 }]),
    });
    expect((await provider.current('JP-TK')).gco2PerKwh).toBe(480);
    // 02:00 and 03:00 have no value in the record, and the 01:00 value holds at most two steps.
    await expect(provider.current('KR')).rejects.toMatchObject({ reason: 'stale' });
    clock.advance(HOUR);
    expect((await provider.current('KR')).gco2PerKwh).toBe(420);
  });

  describe('timestamps without an offset are UTC, whatever the host time zone', () => {
    const forms = ['2025-03-03', '2025-03-03 00:00:00', '2025-03-03T00:00:00', '2025-03-03T00:00', '2025-03-03T00:00:00.000', '2025-03-03T00:00:00Z', '2025-03-03T09:00:00+09:00'];
    // Hourly rows across the night Europe/Berlin skips 02:00 (2025-03-30): in UTC no hour is missing or doubled.
    const files = {
      'trace.csv': ['zone,datetime,gco2_per_kwh', ...forms.map((t, i) => `Z${i},${t},100`), ...[0, 1, 2, 3, 4].map((h) => `DE,2025-03-30T0${h}:00:00,${100 + h}`)].join('\n'),
    };
    const zones = [...forms.map((_, i) => `Z${i}`), 'DE'];
    const expected = [...forms.map(() => [Date.UTC(2025, 2, 3)]), [0, 1, 2, 3, 4].map((h) => Date.UTC(2025, 2, 30, h))];
    const [from, to] = [Date.UTC(2025, 2, 1), Date.UTC(2025, 3, 1)];

    it('in this process', async () => {
      const provider = trace(new FakeClock(), { paths: ['trace.csv'], loop: false }, files);
      expect(await Promise.all(zones.map(async (z) => (await provider.history(z, from, to)).map((p) => p.at)))).toEqual(expected);
    });

    // The test process may well run in UTC, where reading local time cannot be told from reading UTC.
    for (const tz of ['Asia/Seoul', 'Europe/Berlin']) {
      it(`in a process with TZ=${tz}`, async () => {
        const script = `
          const { FileTraceProvider } = await import(process.argv[1]);
          const { ManualClock } = await import(process.argv[2]);
          const files = ${JSON.stringify(files)};
          const provider = new FileTraceProvider({ paths: ['trace.csv'], loop: false, zones: {}, emissionFactor: 'lifecycle' }, new ManualClock(0), (p) => files[p]);
          const zones = ${JSON.stringify(zones)};
          console.log(JSON.stringify(await Promise.all(zones.map(async (z) => (await provider.history(z, ${from}, ${to})).map((p) => p.at)))));`;
        const modules = ['../../src/carbon/file-provider.ts', '../../src/domain/clock.ts'].map((m) => fileURLToPath(new URL(m, import.meta.url)));
        const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...modules], { env: { ...process.env, TZ: tz } });
        expect(JSON.parse(stdout)).toEqual(expected);
      });
    }
  });

  const bad: { name: string; text: string; error: string }[] = [
    { name: 'a value that is not a number', text: `${HEADER}\n2025-03-03 00:00:00,South Korea,South Korea,KR,365.1,419.66,32,13,src,false,\n2025-03-03 01:00:00,South Korea,South Korea,KR,372,n/a,31,14,src,false,`, error: 'bad.csv: line 3: Carbon intensity gCO₂eq/kWh (LCA) is not a number' },
    { name: 'a negative value', text: 'zone,datetime,gco2_per_kwh\nKR,2026-01-01T00:00:00Z,-4', error: 'bad.csv: line 2: gco2_per_kwh must not be negative' },
    { name: 'a value beyond any grid', text: 'zone,datetime,gco2_per_kwh\nKR,2026-01-01T00:00:00Z,4e5', error: 'bad.csv: line 2: gco2_per_kwh must be at most 100000' },
    { name: 'a bad timestamp', text: `${HEADER}\nyesterday,South Korea,South Korea,KR,365.1,419.66,32,13,src,false,`, error: 'bad.csv: line 2: Datetime (UTC) is not a timestamp' },
    { name: 'a timestamp that is not ISO 8601 (Date.parse would read it in local time)', text: 'zone,datetime,gco2_per_kwh\nKR,3/3/2025 00:00,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'a date that does not exist (Date.parse rolls 2025-02-30 over to March 2)', text: 'zone,datetime,gco2_per_kwh\nKR,2025-02-28T23:00:00Z,400\nKR,2025-02-30T00:00:00Z,410', error: 'bad.csv: line 3: datetime is not a timestamp' },
    { name: 'a 29 February outside a leap year, in the export', text: `${HEADER}\n2025-02-29 00:00:00,South Korea,South Korea,KR,365.1,419.66,32,13,src,false,`, error: 'bad.csv: line 2: Datetime (UTC) is not a timestamp' },
    { name: 'a bare date that does not exist', text: 'zone,datetime,gco2_per_kwh\nKR,2025-04-31,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'hour 24 (Date.parse reads 24:00 as the next midnight)', text: 'zone,datetime,gco2_per_kwh\nKR,2025-03-03 24:00:00,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'a time past the end of the day', text: 'zone,datetime,gco2_per_kwh\nKR,2025-03-03T24:30Z,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'minute 60', text: 'zone,datetime,gco2_per_kwh\nKR,2025-03-03T23:60:00Z,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'second 60', text: 'zone,datetime,gco2_per_kwh\nKR,2025-03-03T23:59:60Z,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'month 13', text: 'zone,datetime,gco2_per_kwh\nKR,2025-13-01T00:00:00Z,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'an offset that does not exist', text: 'zone,datetime,gco2_per_kwh\nKR,2025-03-03T00:00:00+09:60,400', error: 'bad.csv: line 2: datetime is not a timestamp' },
    { name: 'an empty zone', text: 'zone,datetime,gco2_per_kwh\n,2026-01-01T00:00:00Z,400', error: 'bad.csv: line 2: zone is empty' },
    { name: 'an unknown header', text: 'time,value\n2026-01-01T00:00:00Z,400', error: 'bad.csv: line 1: unknown header' },
    {
      name: 'points closer than a minute (a replay over days would hold millions of readings)',
      text: 'zone,datetime,gco2_per_kwh\nKR,2026-01-01T00:00:00Z,400\nKR,2026-01-01T00:00:00.100Z,410\nKR,2026-01-01T00:00:00.200Z,420',
      error: 'bad.csv: zone KR: its points are 0.1 s apart (the median); a trace may step a minute at the finest, the shortest slot',
    },
    { name: 'two values for one hour', text: 'zone,datetime,gco2_per_kwh\nKR,2026-01-01T00:00:00Z,400\nKR,2026-01-01 00:00:00,410', error: 'zone KR has two values for 2026-01-01T00:00:00.000Z' },
  ];
  for (const { name, text, error } of bad) {
    it(`refuses a file with ${name}, naming the row and field`, () => {
      const load = () => trace(new FakeClock(), { paths: ['bad.csv'] }, { 'bad.csv': text });
      expect(load).toThrow(TraceFileError);
      expect(load).toThrow(error);
    });
  }

  it('refuses a JSON file of the wrong shape, naming the entry', () => {
    const load = () => trace(new FakeClock(), { paths: ['bad.json'] }, { 'bad.json': JSON.stringify([{ zone: 'KR', datetime: '2026-01-01T00:00:00Z', gco2_per_kwh: '400' }]) });
    expect(load).toThrow('bad.json: [0]: gco2_per_kwh is not a number');
  });

  it('refuses a date that does not exist in a JSON file too, naming the entry', () => {
    const rows = [
      { zone: 'KR', datetime: '2024-02-29T00:00:00Z', gco2_per_kwh: 400 },
      { zone: 'KR', datetime: '2025-02-29T00:00:00Z', gco2_per_kwh: 410 },
    ];
    expect(() => trace(new FakeClock(), { paths: ['bad.json'] }, { 'bad.json': JSON.stringify(rows) })).toThrow('bad.json: [1]: datetime is not a timestamp');
  });

  it('reads dates and times at the edges of what exists', async () => {
    const text = ['zone,datetime,gco2_per_kwh', 'KR,2024-02-29,400', 'KR,2024-02-29T23:59:59.999Z,410', 'KR,2024-12-31T23:00:00+14:00,420', 'KR,2025-01-01T00:00:00-12:00,430'].join('\n');
    const provider = trace(new FakeClock(), { paths: ['edges.csv'], loop: false }, { 'edges.csv': text });
    const points = await provider.history('KR', Date.UTC(2024, 1, 29), Date.UTC(2025, 0, 2));
    expect(points.map((p) => [new Date(p.at).toISOString(), p.gco2PerKwh])).toEqual([
      ['2024-02-29T00:00:00.000Z', 400],
      ['2024-02-29T23:59:59.999Z', 410],
      ['2024-12-31T09:00:00.000Z', 420],
      ['2025-01-01T12:00:00.000Z', 430],
    ]);
  });

  it('refuses a file it cannot read', () => {
    expect(() => new FileTraceProvider({ paths: ['/nonexistent/trace.csv'], loop: true, zones: {}, emissionFactor: 'lifecycle' }, new FakeClock())).toThrow(/trace.csv: cannot read/);
  });
});
