import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';
import type { Clock } from '../domain/clock.js';
import { splitCsvLine } from '../domain/csv.js';
import { CarbonFetchError } from './http.js';
import { indexAt } from './series.js';
import { parseTimestamp } from '../domain/iso-time.js';
import type { CarbonProvider, CarbonReading } from './types.js';
import { withoutBom } from '../domain/bom.js';

export interface FileTraceOptions {
  /** CSV or JSON files; their series are merged by zone. */
  paths: readonly string[];
  /** Replay the trace over and over (its span is the period), so that a recorded week runs forever. */
  loop: boolean;
  /** Hub zone -> zone id in the file, for zones whose names differ; others are looked up as they are. */
  zones: Readonly<Record<string, string>>;
  /** Electricity Maps exports carry both; `lifecycle` is the API's default. */
  emissionFactor: 'lifecycle' | 'direct';
}

/** A trace file that cannot be used, naming the file, the row and the field. */
export class TraceFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceFileError';
  }
}

interface TracePoint {
  zone: string;
  at: number;
  gco2PerKwh: number;
}

const rowSchema = z.object({
  zone: z.string().trim().min(1, 'is empty'),
  datetime: z.string().refine((t) => !Number.isNaN(parseTimestamp(t)), 'is not a timestamp'),
  gco2PerKwh: z.number({ error: 'is not a number' }).finite('is not a number').nonnegative('must not be negative').max(MAX_GCO2_PER_KWH, `must be at most ${MAX_GCO2_PER_KWH}`),
});

/**
 * Columns CASPIAN reads, by header: the Electricity Maps hourly export (`Datetime (UTC)`, `Zone id`,
 * `Carbon intensity gCO₂eq/kWh (LCA)`, `(Life cycle)` in the exports of 2024 on, or `(direct)`) or a plain
 * `zone,datetime,gco2_per_kwh`.
 */
function columns(header: string[], emissionFactor: FileTraceOptions['emissionFactor']): { zone: number; datetime: number; value: number; valueName: string } | undefined {
  const find = (test: RegExp) => header.findIndex((h) => test.test(h));
  const plain = { zone: find(/^zone$/i), datetime: find(/^datetime$/i), value: find(/^gco2_per_kwh$/i) };
  if (plain.zone >= 0 && plain.datetime >= 0 && plain.value >= 0) return { ...plain, valueName: 'gco2_per_kwh' };
  const wanted = emissionFactor === 'lifecycle' ? /^carbon intensity gco(₂|2)eq\/kwh \((lca|life ?cycle)\)$/i : /^carbon intensity gco(₂|2)eq\/kwh \(direct\)$/i;
  const em = { zone: find(/^zone id$/i), datetime: find(/^datetime \(utc\)$/i), value: find(wanted) };
  if (em.zone >= 0 && em.datetime >= 0 && em.value >= 0) return { ...em, valueName: header[em.value] as string };
  return undefined;
}

function parseCsv(path: string, text: string, emissionFactor: FileTraceOptions['emissionFactor']): TracePoint[] {
  const lines = withoutBom(text).split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? '');
  const cols = columns(header, emissionFactor);
  if (!cols) {
    throw new TraceFileError(
      `${path}: line 1: unknown header; expected "zone,datetime,gco2_per_kwh" or the Electricity Maps export columns "Datetime (UTC)", "Zone id", ${emissionFactor === 'lifecycle' ? '"Carbon intensity gCO₂eq/kWh (LCA)" (or "(Life cycle)")' : '"Carbon intensity gCO₂eq/kWh (direct)"'}`,
    );
  }
  const points: TracePoint[] = [];
  lines.slice(1).forEach((line, i) => {
    if (!line.trim()) return;
    const fields = splitCsvLine(line);
    const rawValue = fields[cols.value] ?? '';
    // An empty intensity is a gap in the record: left a gap, never filled here.
    if (rawValue === '') return;
    const row = { zone: fields[cols.zone] ?? '', datetime: fields[cols.datetime] ?? '', gco2PerKwh: Number(rawValue) };
    const names: Record<string, string> = { zone: header[cols.zone] as string, datetime: header[cols.datetime] as string, gco2PerKwh: cols.valueName };
    points.push(validated(row, `${path}: line ${i + 2}`, names));
  });
  return points;
}

function validated(row: unknown, where: string, fieldNames: Record<string, string>): TracePoint {
  const result = rowSchema.safeParse(row);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const field = String(issue.path[0] ?? '');
    throw new TraceFileError(`${where}: ${fieldNames[field] ?? field} ${issue.message}`);
  }
  return { zone: result.data.zone, at: parseTimestamp(result.data.datetime), gco2PerKwh: result.data.gco2PerKwh };
}

const jsonSchema = z.array(z.object({ zone: z.unknown(), datetime: z.unknown(), gco2_per_kwh: z.unknown() }).loose(), 'must be an array of {zone, datetime, gco2_per_kwh}');

function parseJson(path: string, text: string): TracePoint[] {
  let raw: unknown;
  try {
    raw = JSON.parse(withoutBom(text));
  } catch (error) {
    throw new TraceFileError(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  const rows = jsonSchema.safeParse(raw);
  if (!rows.success) throw new TraceFileError(`${path}: ${rows.error.issues[0]?.message}`);
  return rows.data.map((r, i) => validated({ zone: r.zone, datetime: r.datetime, gco2PerKwh: r.gco2_per_kwh }, `${path}: [${i}]`, { gco2PerKwh: 'gco2_per_kwh' }));
}

interface Series {
  points: TracePoint[];
  /** Typical spacing of the points: how long the last one holds, and the longest a point holds before a gap. */
  stepMs: number;
}

function seriesOf(zone: string, points: TracePoint[], where: string): Series {
  points.sort((a, b) => a.at - b.at);
  for (let i = 1; i < points.length; i++) {
    if ((points[i] as TracePoint).at === (points[i - 1] as TracePoint).at) {
      throw new TraceFileError(`${where}: zone ${zone} has two values for ${new Date((points[i] as TracePoint).at).toISOString()}`);
    }
  }
  const gaps = points.slice(1).map((p, i) => p.at - (points[i] as TracePoint).at).sort((a, b) => a - b);
  const stepMs = gaps.length ? (gaps[Math.floor(gaps.length / 2)] as number) : 3_600_000;
  // Finer than the shortest slot, a point tells the planner nothing more, and a replay over days would hold millions
  // of readings (points 100 ms apart: 36,000 an hour).
  if (stepMs < MIN_STEP_MS) {
    throw new TraceFileError(`${where}: zone ${zone}: its points are ${stepMs / 1000} s apart (the median); a trace may step a minute at the finest, the shortest slot`);
  }
  return { points, stepMs };
}

/** The finest step a trace may have: the shortest slot (`slot_seconds` is at least 60). */
const MIN_STEP_MS = 60_000;

/**
 * Replays recorded carbon intensity from CSV or JSON files, for reproducible runs and the benchmark. The
 * values are measurements, so they are served as `measured` for past and future alike: the trace is the
 * truth the run is played against. With `loop`, time wraps around the trace's span.
 */
export class FileTraceProvider implements CarbonProvider {
  readonly name = 'file';
  private readonly series = new Map<string, Series>();
  /**
   * The period a looped trace repeats with, one for every zone: from its first point to its last point's end
   * (that point held one step). A zone whose record ends early keeps a gap there instead of a shorter period
   * that would drift from the others loop by loop.
   */
  private readonly startMs: number;
  private readonly spanMs: number;

  /** Reads and validates every file now, so that a bad file stops start-up instead of a refresh. */
  constructor(
    private readonly options: FileTraceOptions,
    private readonly clock: Clock,
    readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
  ) {
    const byZone = new Map<string, TracePoint[]>();
    for (const path of options.paths) {
      let text: string;
      try {
        text = readFile(path);
      } catch (error) {
        throw new TraceFileError(`${path}: cannot read: ${(error as Error).message}`);
      }
      const points = /\.json$/i.test(path) ? parseJson(path, text) : parseCsv(path, text, options.emissionFactor);
      for (const p of points) {
        const list = byZone.get(p.zone);
        if (list) list.push(p);
        else byZone.set(p.zone, [p]);
      }
    }
    if (byZone.size === 0) throw new TraceFileError(`${options.paths.join(', ')}: no values`);
    for (const [zone, points] of byZone) this.series.set(zone, seriesOf(zone, points, options.paths.join(', ')));
    const all = [...this.series.values()];
    this.startMs = Math.min(...all.map((s) => (s.points[0] as TracePoint).at));
    this.spanMs = Math.max(...all.map((s) => (s.points.at(-1) as TracePoint).at + s.stepMs)) - this.startMs;
  }

  private seriesFor(zone: string): Series {
    const series = this.series.get(this.options.zones[zone] ?? zone);
    if (!series) throw new CarbonFetchError(`${this.name}: no values for zone ${zone} in ${this.options.paths.join(', ')}`, 'http_4xx');
    return series;
  }

  /** Points in [fromMs, toMs) in real time, the trace shifted by whole spans when looping. */
  private replay(zone: string, fromMs: number, toMs: number): CarbonReading[] {
    const s = this.seriesFor(zone);
    const fetchedAt = this.clock.now();
    const firstCycle = this.options.loop ? Math.floor((fromMs - this.startMs) / this.spanMs) : 0;
    const lastCycle = this.options.loop ? Math.floor((toMs - this.startMs) / this.spanMs) : 0;
    const out: CarbonReading[] = [];
    for (let cycle = firstCycle; cycle <= lastCycle; cycle++) {
      const shift = cycle * this.spanMs;
      for (const p of s.points) out.push({ zone, at: p.at + shift, gco2PerKwh: p.gco2PerKwh, source: this.name, kind: 'measured', fetchedAt });
    }
    // The point in effect at `fromMs`, and the points after it; a point holds for at most two steps.
    const first = indexAt(out, fromMs, 2 * s.stepMs);
    return out.filter((p, i) => (i === first || p.at > fromMs) && p.at < toMs);
  }

  async current(zone: string): Promise<CarbonReading> {
    const now = this.clock.now();
    const [point] = this.replay(zone, now, now + 1);
    if (!point || point.at > now) {
      throw new CarbonFetchError(`${this.name}: the trace for zone ${zone} has no value at ${new Date(now).toISOString()}`, 'stale');
    }
    return point;
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    return this.replay(zone, fromMs, toMs);
  }

  async history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    return this.replay(zone, fromMs, toMs);
  }
}
