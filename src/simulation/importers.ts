import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { submissionSchema } from '../api/schemas.js';
import { splitCsvLine } from '../domain/csv.js';
import { errorMessage } from '../domain/errors.js';
import { seededRandom } from '../domain/random.js';
import { DAY_MS, drawDeadlineMinutes, latestDeadlineMinutes, type Workload, type WorkloadJob } from './workload.js';

/**
 * Importers of public cluster traces into benchmark workloads. Each reads its file line by line (the traces
 * run to gigabytes), validates every line with zod and stops at the first bad one with an error naming the
 * file, the line and the field. Rows that are valid but no batch job CASPIAN could run (a task that never
 * finished, an alloc set, no CPU, a request larger than any cluster, a run too long for a deadline the hub
 * accepts) are skipped and counted by reason.
 *
 * The traces carry no deadlines: every job gets one drawn, seeded, from the synthetic workload's slack bands,
 * so that a trace workload and a synthetic one differ only in arrivals, sizes and runtimes.
 */

/** A trace file that cannot be imported, with the file, line and field. */
export class TraceImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceImportError';
  }
}

export interface ImportOptions {
  /** Keep the jobs arriving in the first `days` days of the trace (its own time 0). */
  days: number;
  /** At most this many jobs: the earliest arrivals. */
  jobs: number;
  /** Seeds the drawn deadlines. */
  seed: number;
  /** Minimum deadline slack, minutes: the planning slot (a job must survive waiting for the next cycle). */
  minSlackMinutes: number;
  /** Largest cluster: a job asking for more is skipped, since no strategy could ever run it. */
  maxCpu: number;
  maxMemGb: number;
}

/**
 * Alibaba 2018's memory is normalised to a machine's (`plan_mem` in [0, 100]) and the trace's machines have
 * 96 cores; their memory is not published. CASPIAN reads 100 as this many GB.
 */
export const ALIBABA_MACHINE_MEM_GB = 512;
/**
 * Google 2019 normalises CPU and memory to the largest machine of a cell (1.0). CASPIAN reads 1.0 as a
 * 64-core, 256-GB machine.
 */
export const GOOGLE_MACHINE_CORES = 64;
export const GOOGLE_MACHINE_MEM_GB = 256;

/**
 * The longest deadline the hub's API accepts (`deadline_minutes` of `POST /hub/appwrappers`; it bounds the
 * runtime too, which the deadline must cover): a job whose drawn deadline could pass it is skipped, since the
 * hub would refuse it in the middle of a run.
 */
const HUB_MAX_DEADLINE_MINUTES = submissionSchema([]).shape.deadline_minutes.maxValue ?? Number.POSITIVE_INFINITY;
const TOO_LONG = `too long for a deadline within ${HUB_MAX_DEADLINE_MINUTES} min`;

/** Whether the hub takes a job of `runtimeMinutes` with any deadline the import may draw for it. */
const fitsHubDeadline = (runtimeMinutes: number, options: ImportOptions) => latestDeadlineMinutes(runtimeMinutes, options.minSlackMinutes) <= HUB_MAX_DEADLINE_MINUTES;

/** The earliest `limit` items by `key`, kept in a bounded max-heap so that a huge trace costs O(limit) memory. */
class Earliest<T> {
  private readonly heap: T[] = [];
  constructor(
    private readonly limit: number,
    private readonly key: (item: T) => number,
  ) {}

  offer(item: T): void {
    const { heap, key } = this;
    if (heap.length < this.limit) {
      heap.push(item);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (key(heap[parent] as T) >= key(heap[i] as T)) break;
        [heap[parent], heap[i]] = [heap[i] as T, heap[parent] as T];
        i = parent;
      }
      return;
    }
    if (!heap.length || key(item) >= key(heap[0] as T)) return;
    heap[0] = item;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && key(heap[l] as T) > key(heap[top] as T)) top = l;
      if (r < heap.length && key(heap[r] as T) > key(heap[top] as T)) top = r;
      if (top === i) break;
      [heap[top], heap[i]] = [heap[i] as T, heap[top] as T];
      i = top;
    }
  }

  sorted(): T[] {
    return [...this.heap].sort((a, b) => this.key(a) - this.key(b));
  }
}

/** Reads a file line by line: `onLine(text, lineNumber)` for every line, 1-based. */
async function eachLine(path: string, onLine: (line: string, lineNumber: number) => void): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (error) {
    throw new TraceImportError(`${path}: cannot read: ${errorMessage(error)}`);
  }
  let n = 0;
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) onLine(line, ++n);
  } catch (error) {
    // A read can fail once the file is open (a directory opens, then EISDIR): that is the file's fault,
    // named like an open failure. What `onLine` throws (a malformed line, a bug) passes through unchanged.
    if (error instanceof TraceImportError || stream.errored !== error) throw error;
    throw new TraceImportError(`${path}: cannot read: ${errorMessage(error)}`);
  } finally {
    // A malformed line stops the loop mid-file: close the file now rather than when it is collected.
    stream.destroy();
  }
}

/** The first issue of a failed parse as `field: message`. */
function describe(error: z.ZodError): string {
  const issue = error.issues[0] as z.core.$ZodIssue;
  return `${issue.path.join('.') || '(line)'}: ${issue.message}`;
}

const NUMBER = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** A number given as a number or as text (BigQuery exports INT64 as JSON strings; CSV has only text). */
const numberLike = (what: 'a number' | 'a whole number') =>
  // Optional on the way in, so that an absent field reaches the check below and is called missing.
  z.unknown().optional().transform((value, ctx) => {
    if (value === undefined || value === null || value === '') {
      ctx.addIssue({ code: 'custom', message: 'is missing' });
      return z.NEVER;
    }
    const n = typeof value === 'number' ? value : typeof value === 'string' && NUMBER.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || (what === 'a whole number' && !Number.isInteger(n))) {
      ctx.addIssue({ code: 'custom', message: `is not ${what}` });
      return z.NEVER;
    }
    return n;
  });
/** A number, or nothing when the field is empty (the trace leaves some requests out). */
const optionalNumber = z.string().transform((value, ctx) => {
  if (value.trim() === '') return undefined;
  const n = NUMBER.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: 'is not a number' });
    return z.NEVER;
  }
  return n;
});

function finishJobs(kept: { arrivalS: number; job: Omit<WorkloadJob, 'arrival_ms' | 'job_id' | 'deadline_minutes'> }[], prefix: string, options: ImportOptions): WorkloadJob[] {
  const random = seededRandom(options.seed);
  const t0 = kept[0]?.arrivalS ?? 0;
  const width = String(kept.length).length;
  return kept.map(({ arrivalS, job }, i) => ({
    ...job,
    job_id: `${prefix}-${String(i + 1).padStart(width, '0')}`,
    arrival_ms: Math.round((arrivalS - t0) * 1000),
    deadline_minutes: drawDeadlineMinutes(random, job.runtime_minutes, options.minSlackMinutes),
  }));
}

function count(skipped: Record<string, number>, reason: string): void {
  skipped[reason] = (skipped[reason] ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------
// Alibaba cluster-trace-v2018 batch_task.csv
// ---------------------------------------------------------------------------------------------

/** The columns of batch_task.csv, in file order (the file has no header). */
export const ALIBABA_COLUMNS = ['task_name', 'instance_num', 'job_name', 'task_type', 'status', 'start_time', 'end_time', 'plan_cpu', 'plan_mem'] as const;

const alibabaRow = z.object({
  task_name: z.string().min(1, 'is empty'),
  instance_num: numberLike('a whole number').pipe(z.number().min(1, 'must be at least 1')),
  job_name: z.string().min(1, 'is empty'),
  task_type: z.string(),
  status: z.string().min(1, 'is empty'),
  start_time: optionalNumber,
  end_time: optionalNumber,
  plan_cpu: optionalNumber.refine((v) => v === undefined || v >= 0, 'must not be negative'),
  plan_mem: optionalNumber.refine((v) => v === undefined || v >= 0, 'must not be negative'),
});

/**
 * Alibaba 2018 `batch_task.csv` (no header; `task_name, instance_num, job_name, task_type, status,
 * start_time, end_time, plan_cpu, plan_mem`; times in seconds from the trace's start; `plan_cpu` 100 = one
 * core, per instance; `plan_mem` normalised, [0, 100] of a machine). One job per task that terminated: its
 * instances together (`instance_num x plan_cpu / 100` cores, `instance_num x plan_mem / 100 x
 * ALIBABA_MACHINE_MEM_GB` GB) for `end_time - start_time`, arriving at `start_time` (the trace has no
 * submission time). No GPU, no data to move, any region.
 */
export async function importAlibaba(path: string, options: ImportOptions): Promise<Workload> {
  const skipped: Record<string, number> = {};
  const horizonS = (options.days * DAY_MS) / 1000;
  type Kept = { arrivalS: number; job: Omit<WorkloadJob, 'arrival_ms' | 'job_id' | 'deadline_minutes'> };
  const earliest = new Earliest<Kept>(options.jobs, (k) => k.arrivalS);
  await eachLine(path, (line, n) => {
    if (!line.trim()) return;
    const fields = splitCsvLine(line);
    // The published file has no header; one written by hand or by a tool is tolerated.
    if (n === 1 && fields[0] === 'task_name') return;
    if (fields.length !== ALIBABA_COLUMNS.length) {
      throw new TraceImportError(`${path}: line ${n}: expected ${ALIBABA_COLUMNS.length} fields (${ALIBABA_COLUMNS.join(', ')}), got ${fields.length}`);
    }
    const parsed = alibabaRow.safeParse(Object.fromEntries(ALIBABA_COLUMNS.map((c, i) => [c, fields[i]])));
    if (!parsed.success) throw new TraceImportError(`${path}: line ${n}: ${describe(parsed.error)}`);
    const row = parsed.data;
    if (row.status !== 'Terminated') return count(skipped, `status ${row.status}`);
    if (row.start_time === undefined || row.end_time === undefined || row.end_time <= row.start_time) return count(skipped, 'no run time');
    if (row.start_time >= horizonS) return count(skipped, `after day ${options.days}`);
    if (row.plan_cpu === undefined || row.plan_cpu === 0) return count(skipped, 'no plan_cpu');
    const cpu = Math.round(((row.instance_num * row.plan_cpu) / 100) * 100) / 100;
    const memGb = Math.round(((row.instance_num * (row.plan_mem ?? 0)) / 100) * ALIBABA_MACHINE_MEM_GB * 100) / 100;
    // Cores are kept to hundredths: a request under half of one is no request the hub takes.
    if (cpu <= 0) return count(skipped, 'cpu rounds to 0');
    if (cpu > options.maxCpu || memGb > options.maxMemGb) return count(skipped, 'larger than any cluster');
    const runtimeMinutes = (row.end_time - row.start_time) / 60;
    if (!fitsHubDeadline(runtimeMinutes, options)) return count(skipped, TOO_LONG);
    earliest.offer({
      arrivalS: row.start_time,
      job: {
        cpu,
        mem_gb: memGb,
        gpu: 0,
        runtime_minutes: runtimeMinutes,
        data_gb: 0,
        affinity_regions: [],
        origin: `${row.job_name}/${row.task_name}`,
      },
    });
  });
  return { name: `alibaba:${path}`, jobs: finishJobs(earliest.sorted(), 'a', options), skipped };
}

// ---------------------------------------------------------------------------------------------
// Google cluster-data 2019 instance_events
// ---------------------------------------------------------------------------------------------

/** `EventType` of the v3 trace format (clusterdata_trace_format_v3.proto). */
export const GOOGLE_EVENT_TYPES = ['SUBMIT', 'QUEUE', 'ENABLE', 'SCHEDULE', 'EVICT', 'FAIL', 'FINISH', 'KILL', 'LOST', 'UPDATE_PENDING', 'UPDATE_RUNNING'] as const;

const int64 = numberLike('a whole number');
const eventType = z.unknown().optional().transform((value, ctx) => {
  const byName = typeof value === 'string' ? GOOGLE_EVENT_TYPES.indexOf(value as (typeof GOOGLE_EVENT_TYPES)[number]) : -1;
  if (byName >= 0) return byName;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n >= GOOGLE_EVENT_TYPES.length) {
    ctx.addIssue({ code: 'custom', message: `is not an event type (0-${GOOGLE_EVENT_TYPES.length - 1} or ${GOOGLE_EVENT_TYPES.join('|')})` });
    return z.NEVER;
  }
  return n;
});
const fraction = numberLike('a number').pipe(z.number().nonnegative('must not be negative'));

const googleEvent = z.object({
  time: int64.pipe(z.number().nonnegative('must not be negative')),
  type: eventType,
  collection_id: int64,
  instance_index: int64,
  /** 0 = JOB, 1 = ALLOC_SET (or the names). */
  collection_type: z.unknown().optional().transform((value, ctx) => {
    if (value === undefined || value === null || value === '') return undefined;
    if (value === 'JOB' || value === 0 || value === '0') return 0;
    if (value === 'ALLOC_SET' || value === 1 || value === '1') return 1;
    ctx.addIssue({ code: 'custom', message: 'is not a collection type (0, 1, JOB or ALLOC_SET)' });
    return z.NEVER;
  }),
  resource_request: z.object({ cpus: fraction.nullish(), memory: fraction.nullish() }).nullish(),
});
type GoogleEvent = z.infer<typeof googleEvent>;

/** Column names a flattened BigQuery CSV export may use for the nested request. */
const CSV_ALIASES: Record<string, string> = {
  'resource_request.cpus': 'cpus',
  resource_request_cpus: 'cpus',
  'resource_request.memory': 'memory',
  resource_request_memory: 'memory',
};

function googleCsvRecord(header: string[], fields: string[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  const request: Record<string, string> = {};
  header.forEach((name, i) => {
    const value = fields[i] ?? '';
    const alias = CSV_ALIASES[name];
    if (alias) {
      if (value !== '') request[alias] = value;
    } else if (value !== '') record[name] = value;
  });
  if (Object.keys(request).length) record.resource_request = request;
  return record;
}

interface InstanceTrack {
  submitUs?: number;
  scheduleUs?: number;
  finishUs?: number;
  allocSet: boolean;
  cpus?: number;
  memory?: number;
}

/**
 * Google cluster-data 2019 `instance_events`, as BigQuery exports it: JSON lines (newline-delimited JSON,
 * INT64 fields as strings, `resource_request: {cpus, memory}`), or CSV with a header row and the request
 * flattened to `resource_request_cpus, resource_request_memory` (BigQuery cannot export nested fields to
 * CSV). Times are microseconds from the trace's start; `type` is the v3 `EventType` (number or name). One
 * job per task instance (`collection_id`, `instance_index`) that was submitted or scheduled and finished
 * (FINISH): it arrives at its first SUBMIT (else its SCHEDULE), runs from its last SCHEDULE to its FINISH, and
 * asks for its last `resource_request` (1.0 = `GOOGLE_MACHINE_CORES` cores, `GOOGLE_MACHINE_MEM_GB` GB).
 * Alloc-set instances (collection_type 1) are reservations, not work, and are skipped.
 */
export async function importGoogle(path: string, options: ImportOptions): Promise<Workload> {
  const skipped: Record<string, number> = {};
  const tracks = new Map<string, InstanceTrack>();
  const horizonUs = options.days * DAY_MS * 1000;
  let header: string[] | undefined;
  const json = !/\.csv$/i.test(path);
  const onEvent = (e: GoogleEvent) => {
    const key = `${e.collection_id}:${e.instance_index}`;
    let t = tracks.get(key);
    if (!t) tracks.set(key, (t = { allocSet: false }));
    if (e.collection_type === 1) t.allocSet = true;
    if (e.resource_request?.cpus != null) t.cpus = e.resource_request.cpus;
    if (e.resource_request?.memory != null) t.memory = e.resource_request.memory;
    const type = GOOGLE_EVENT_TYPES[e.type];
    if (type === 'SUBMIT' && t.submitUs === undefined) t.submitUs = e.time;
    else if (type === 'SCHEDULE') t.scheduleUs = e.time;
    else if (type === 'FINISH') t.finishUs = e.time;
  };
  await eachLine(path, (line, n) => {
    if (!line.trim()) return;
    let raw: unknown;
    if (json) {
      try {
        raw = JSON.parse(line);
      } catch (error) {
        throw new TraceImportError(`${path}: line ${n}: not valid JSON: ${(error as Error).message}`);
      }
    } else {
      const fields = splitCsvLine(line);
      if (!header) {
        header = fields;
        const missing = ['time', 'type', 'collection_id', 'instance_index'].filter((c) => !header?.includes(c));
        if (missing.length) throw new TraceImportError(`${path}: line 1: the header lacks ${missing.join(', ')} (expected BigQuery's column names)`);
        return;
      }
      if (fields.length !== header.length) throw new TraceImportError(`${path}: line ${n}: expected ${header.length} fields as the header has, got ${fields.length}`);
      raw = googleCsvRecord(header, fields);
    }
    const parsed = googleEvent.safeParse(raw);
    if (!parsed.success) throw new TraceImportError(`${path}: line ${n}: ${describe(parsed.error)}`);
    onEvent(parsed.data);
  });

  type Kept = { arrivalS: number; job: Omit<WorkloadJob, 'arrival_ms' | 'job_id' | 'deadline_minutes'> };
  const earliest = new Earliest<Kept>(options.jobs, (k) => k.arrivalS);
  for (const [key, t] of tracks) {
    if (t.allocSet) {
      count(skipped, 'alloc set');
      continue;
    }
    const arrivalUs = t.submitUs ?? t.scheduleUs;
    if (t.finishUs === undefined || t.scheduleUs === undefined || arrivalUs === undefined || t.finishUs <= t.scheduleUs) {
      count(skipped, 'did not finish');
      continue;
    }
    if (arrivalUs >= horizonUs) {
      count(skipped, `after day ${options.days}`);
      continue;
    }
    const cpu = Math.round((t.cpus ?? 0) * GOOGLE_MACHINE_CORES * 100) / 100;
    const memGb = Math.round((t.memory ?? 0) * GOOGLE_MACHINE_MEM_GB * 100) / 100;
    if (cpu <= 0) {
      count(skipped, 'no cpu request');
      continue;
    }
    if (cpu > options.maxCpu || memGb > options.maxMemGb) {
      count(skipped, 'larger than any cluster');
      continue;
    }
    const runtimeMinutes = (t.finishUs - t.scheduleUs) / 60e6;
    if (!fitsHubDeadline(runtimeMinutes, options)) {
      count(skipped, TOO_LONG);
      continue;
    }
    earliest.offer({
      arrivalS: arrivalUs / 1e6,
      job: {
        cpu,
        mem_gb: memGb,
        gpu: 0,
        runtime_minutes: runtimeMinutes,
        data_gb: 0,
        affinity_regions: [],
        origin: key,
      },
    });
  }
  return { name: `google:${path}`, jobs: finishJobs(earliest.sorted(), 'g', options), skipped };
}
