import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { submissionSchema } from '../../src/api/schemas.js';
import {
  ALIBABA_MACHINE_MEM_GB,
  GOOGLE_MACHINE_CORES,
  GOOGLE_MACHINE_MEM_GB,
  importAlibaba,
  importGoogle,
  TraceImportError,
  type ImportOptions,
} from '../../src/simulation/importers.js';
import { MAX_DEADLINE_MINUTES, type Workload } from '../../src/simulation/workload.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'workloads');
const options: ImportOptions = { days: 3, jobs: 1000, seed: 5, minSlackMinutes: 15, maxCpu: 96, maxMemGb: 384 };
const dir = mkdtempSync(join(tmpdir(), 'caspian-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const GOOD_ALIBABA = 'M1,1,j_1,1,Terminated,100,160,50.0,0.2\n';

/** Every job of a workload as the simulator submits it, checked by the hub's own submission schema. */
function expectHubTakes(workload: Workload): void {
  const schema = submissionSchema(['KR', 'JP', 'CN']);
  for (const j of workload.jobs) {
    const body = { job_id: j.job_id, cpu: j.cpu, mem_gb: j.mem_gb, gpu: j.gpu, runtime_minutes: j.runtime_minutes, deadline_minutes: j.deadline_minutes, data_gb: j.data_gb, affinity_regions: j.affinity_regions, urgency: 'flexible' };
    const parsed = schema.safeParse(body);
    expect(parsed.success, `${j.job_id} (${j.origin}): ${parsed.error?.message}`).toBe(true);
  }
}

/** The API's longest deadline (and runtime): a week. */
const WEEK_MINUTES = 7 * 24 * 60;
/** The longest run (seconds) whose drawn deadline the hub still takes with `options`' least slack. */
const LONGEST_RUN_S = (WEEK_MINUTES - options.minSlackMinutes) * 60;
const TOO_LONG = `too long for a deadline within ${WEEK_MINUTES} min`;

describe('Alibaba 2018 batch_task importer', () => {
  it('makes one job per terminated task, its instances together, arriving at its start', async () => {
    const w = await importAlibaba(join(fixtures, 'alibaba-batch_task.csv'), options);
    expect(w.name).toBe(`alibaba:${join(fixtures, 'alibaba-batch_task.csv')}`);
    expect(w.jobs.map((j) => j.origin)).toEqual([
      'j_1003/task_LTg0MTUwNTA5Mjg4MzI2MzQ4MA==',
      'j_1001/M1',
      'j_1001/R2_1',
      'j_1002/M1',
      'j_1006/J3_1_2',
      'j_1008/R4_2',
      'j_1011/M3',
      'j_1011/R2_1',
      'j_1012/M1',
      'j_1014/M2_1',
    ]);
    expect(w.skipped).toEqual({ 'status Running': 1, 'status Failed': 1, 'status Waiting': 1, 'no plan_cpu': 1, 'larger than any cluster': 1, 'after day 3': 1 });
    const m1 = w.jobs.find((j) => j.origin === 'j_1002/M1');
    // 5 instances x 100 = 5 cores, 5 x 0.39% of a machine's memory, 559 s.
    expect(m1).toMatchObject({ job_id: 'a-04', arrival_ms: (86562 - 86502) * 1000, cpu: 5, gpu: 0, data_gb: 0, affinity_regions: [] });
    expect(m1?.mem_gb).toBeCloseTo((5 * 0.39 * ALIBABA_MACHINE_MEM_GB) / 100, 2);
    expect(m1?.runtime_minutes).toBeCloseTo(559 / 60, 9);
    for (const j of w.jobs) {
      expect(j.deadline_minutes).toBeGreaterThanOrEqual(j.runtime_minutes + 15);
      expect(j.deadline_minutes).toBeLessThanOrEqual(Math.max(MAX_DEADLINE_MINUTES, Math.ceil(j.runtime_minutes + 15)));
    }
    expect(await importAlibaba(join(fixtures, 'alibaba-batch_task.csv'), options)).toEqual(w);
  });

  it('keeps the earliest arrivals when asked for fewer jobs', async () => {
    const w = await importAlibaba(join(fixtures, 'alibaba-batch_task.csv'), { ...options, jobs: 3 });
    expect(w.jobs.map((j) => j.origin)).toEqual(['j_1003/task_LTg0MTUwNTA5Mjg4MzI2MzQ4MA==', 'j_1001/M1', 'j_1001/R2_1']);
  });

  it('names the file, line and field of a malformed row', async () => {
    const cases: [string, string][] = [
      [`${GOOD_ALIBABA}M1,1,j_2,1,Terminated,100,160,50.0\n`, 'line 2: expected 9 fields (task_name, instance_num, job_name, task_type, status, start_time, end_time, plan_cpu, plan_mem), got 8'],
      [`${GOOD_ALIBABA}M1,1,j_2,1,Terminated,100,160,lots,0.2\n`, 'line 2: plan_cpu: is not a number'],
      [`M1,0,j_2,1,Terminated,100,160,50,0.2\n`, 'line 1: instance_num: must be at least 1'],
      [`M1,1.5,j_2,1,Terminated,100,160,50,0.2\n`, 'line 1: instance_num: is not a whole number'],
      [`${GOOD_ALIBABA}\n,1,j_2,1,Terminated,100,160,50,0.2\n`, 'line 3: task_name: is empty'],
      [`M1,1,j_2,1,Terminated,100,1x0,50,0.2\n`, 'line 1: end_time: is not a number'],
      [`M1,1,j_2,1,Terminated,100,160,-5,0.2\n`, 'line 1: plan_cpu: must not be negative'],
    ];
    for (const [text, message] of cases) {
      const path = file('bad.csv', text);
      await expect(importAlibaba(path, options), message).rejects.toThrow(new TraceImportError(`${path}: ${message}`));
    }
  });

  it('tolerates a header line and says when the file cannot be read', async () => {
    const path = file('header.csv', `task_name,instance_num,job_name,task_type,status,start_time,end_time,plan_cpu,plan_mem\n${GOOD_ALIBABA}`);
    expect((await importAlibaba(path, options)).jobs).toHaveLength(1);
    await expect(importAlibaba(join(dir, 'absent.csv'), options)).rejects.toThrow(/absent\.csv: cannot read: ENOENT/);
  });

  it('says so when reading fails after the file opened (a directory)', async () => {
    const directory = join(dir, 'a-directory');
    mkdirSync(directory, { recursive: true });
    await expect(importAlibaba(directory, options)).rejects.toThrow(new TraceImportError(`${directory}: cannot read: EISDIR: illegal operation on a directory, read`));
    await expect(importGoogle(directory, options)).rejects.toThrow(new TraceImportError(`${directory}: cannot read: EISDIR: illegal operation on a directory, read`));
  });

  it('skips and counts the rows the hub would refuse: a CPU request that rounds to 0, a run too long for a deadline within a week', async () => {
    const path = file(
      'refused.csv',
      [
        GOOD_ALIBABA.trim(),
        // 0.3 % of a core: 0.003 cores, kept to hundredths is 0.
        'M1,1,j_2,1,Terminated,100,700,0.3,0.5',
        'M1,1,j_3,1,Terminated,100,700000,50,0.5',
        `M1,1,j_4,1,Terminated,100,${100 + LONGEST_RUN_S + 1},50,0.5`,
        `M1,1,j_5,1,Terminated,100,${100 + LONGEST_RUN_S},50,0.5`,
      ].join('\n'),
    );
    const w = await importAlibaba(path, options);
    expect(w.jobs.map((j) => j.origin)).toEqual(['j_1/M1', 'j_5/M1']);
    expect(w.skipped).toEqual({ 'cpu rounds to 0': 1, [TOO_LONG]: 2 });
    expectHubTakes(w);
  });
});

describe('Google 2019 instance_events importer', () => {
  it('makes one job per finished task instance from SUBMIT, SCHEDULE and FINISH (JSON lines as BigQuery exports them)', async () => {
    const w = await importGoogle(join(fixtures, 'google-instance_events.json'), options);
    expect(w.jobs.map((j) => j.origin)).toEqual(['375790958:0', '375790958:1', '391017411:12']);
    expect(w.skipped).toEqual({ 'did not finish': 2, 'alloc set': 1 });
    const [first, second, third] = w.jobs;
    expect(first).toMatchObject({ job_id: 'g-1', arrival_ms: 0, gpu: 0 });
    expect(first?.cpu).toBeCloseTo(0.0206 * GOOGLE_MACHINE_CORES, 2);
    expect(first?.mem_gb).toBeCloseTo(0.0059 * GOOGLE_MACHINE_MEM_GB, 2);
    // SCHEDULE at 605.3 s, FINISH at 1805.3 s.
    expect(first?.runtime_minutes).toBeCloseTo(20, 9);
    expect(second?.arrival_ms).toBe(5000);
    // Queued, then scheduled at 1500 s and finished at 8700 s: two hours from its schedule, arriving at its submission.
    expect(third).toMatchObject({ arrival_ms: 295_000 });
    expect(third?.runtime_minutes).toBeCloseTo(120, 9);
  });

  it('reads the CSV export (request flattened) to the same jobs', async () => {
    const json = await importGoogle(join(fixtures, 'google-instance_events.json'), options);
    const csv = await importGoogle(join(fixtures, 'google-instance_events.csv'), options);
    expect(csv.jobs).toEqual(json.jobs);
    expect(csv.skipped).toEqual(json.skipped);
  });

  it('accepts event types by name and integers as numbers', async () => {
    const path = file(
      'names.json',
      [
        { time: 0, type: 'SUBMIT', collection_id: 1, instance_index: 0, resource_request: { cpus: 0.1, memory: 0.1 } },
        { time: 60e6, type: 'SCHEDULE', collection_id: 1, instance_index: 0 },
        { time: 660e6, type: 'FINISH', collection_id: 1, instance_index: 0 },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    expect((await importGoogle(path, options)).jobs).toMatchObject([{ runtime_minutes: 10, arrival_ms: 0 }]);
  });

  it('skips and counts an instance that runs too long for a deadline within a week', async () => {
    const instance = (id: number, runS: number) => [
      { time: 0, type: 'SUBMIT', collection_id: id, instance_index: 0, resource_request: { cpus: 0.1, memory: 0.1 } },
      { time: 60e6, type: 'SCHEDULE', collection_id: id, instance_index: 0 },
      { time: 60e6 + runS * 1e6, type: 'FINISH', collection_id: id, instance_index: 0 },
    ];
    const path = file('long.json', [...instance(1, LONGEST_RUN_S), ...instance(2, LONGEST_RUN_S + 1), ...instance(3, 8 * 24 * 3600)].map((e) => JSON.stringify(e)).join('\n'));
    const w = await importGoogle(path, options);
    expect(w.jobs.map((j) => j.origin)).toEqual(['1:0']);
    expect(w.skipped).toEqual({ [TOO_LONG]: 2 });
    expectHubTakes(w);
  });

  it('names the file, line and field of a malformed event', async () => {
    const ok = '{"time":"0","type":"0","collection_id":"1","instance_index":"0"}\n';
    const cases: [string, string, string][] = [
      ['json', `${ok}{"time":"5","type":"0",\n`, 'line 2: not valid JSON'],
      ['json', `${ok}{"time":"5","type":"42","collection_id":"1","instance_index":"0"}\n`, 'line 2: type: is not an event type'],
      ['json', `{"time":"soon","type":"0","collection_id":"1","instance_index":"0"}\n`, 'line 1: time: is not a whole number'],
      ['json', `{"time":"5","type":"0","instance_index":"0"}\n`, 'line 1: collection_id: is missing'],
      ['json', `{"time":"5","type":"0","collection_id":"1","instance_index":"0","resource_request":{"cpus":"many"}}\n`, 'line 1: resource_request.cpus: is not a number'],
      ['csv', 'time,type,instance_index\n1,0,0\n', 'line 1: the header lacks collection_id'],
      ['csv', 'time,type,collection_id,instance_index\n1,0,0\n', 'line 2: expected 4 fields as the header has, got 3'],
      ['csv', 'time,type,collection_id,instance_index,resource_request_cpus\n1,0,7,0,-1\n', 'line 2: resource_request.cpus: must not be negative'],
    ];
    for (const [ext, text, message] of cases) {
      const path = file(`bad.${ext}`, text);
      await expect(importGoogle(path, options), message).rejects.toThrow(`${path}: ${message}`);
    }
  });
});
