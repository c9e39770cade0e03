import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { carbonReport, carbonReportCsv } from '../../src/api/carbon-report.js';
import type { AppWrapper, CarbonAccount, Urgency } from '../../src/domain/app-wrapper.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { testHub, type TestHub } from '../support/hub.js';

const DAY = 24 * 3_600_000;
const JAN5 = Date.UTC(2026, 0, 5, 12, 0, 0);

function account(actualG: number, counterfactualG: number, plannedG = 0, energyKwh = 0.1): CarbonAccount {
  return { plannedG, actualG, counterfactualG, savedG: counterfactualG - actualG, energyKwh, basis: 'measured' };
}

/** A job that finished on `cluster` at `finishedAt` with `carbon` as its account. */
function finished(jobId: string, cluster: string, urgency: Urgency, finishedAt: number, carbon: CarbonAccount | undefined): AppWrapper {
  const aw = appWrapper(jobId).phase('Succeeded').target(cluster).placement({ cluster, jobName: jobId, generation: 1, pool: 'FAST' }).obj();
  return { ...aw, spec: { ...aw.spec, urgency }, startedAt: finishedAt - 3_600_000, finishedAt, ...(carbon && { carbonAccount: carbon }) };
}

const JOBS: AppWrapper[] = [
  finished('a', 'carbon-kr', 'normal', JAN5, account(10, 30, 12, 0.05)),
  finished('b', 'carbon-jp', 'flexible', JAN5 + 1000, account(20, 25, 18, 0.1)),
  finished('c', 'carbon-kr', 'urgent', JAN5 + DAY, account(40, 35, 40, 0.2)),
  // Cancelled while running: the cancel cleared its placement, its plan says where it ran.
  { ...finished('d', 'carbon-jp', 'normal', JAN5 + 2 * DAY, account(1.1, 2.2, 0, 0.000001)), phase: 'Cancelled', placement: undefined },
  // Never ran: no account, not in the report.
  { ...finished('e', 'carbon-kr', 'normal', JAN5, undefined), startedAt: undefined },
];

describe('carbonReport', () => {
  it('sums the accounts in total, per cluster, per urgency (in class order) and per UTC day of finish', () => {
    const report = carbonReport(JOBS, { generatedAtMs: JAN5 + 3 * DAY });
    expect(report.generated_at).toBe('2026-01-08T12:00:00.000Z');
    expect(report.totals).toEqual({ jobs: 4, energy_kwh: 0.350001, planned_g: 70, actual_g: 71.1, counterfactual_g: 92.2, saved_g: 21.1 });
    expect(report.by_cluster).toEqual([
      { cluster: 'carbon-jp', jobs: 2, energy_kwh: 0.100001, planned_g: 18, actual_g: 21.1, counterfactual_g: 27.2, saved_g: 6.1 },
      { cluster: 'carbon-kr', jobs: 2, energy_kwh: 0.25, planned_g: 52, actual_g: 50, counterfactual_g: 65, saved_g: 15 },
    ]);
    expect(report.by_urgency.map((g) => [g.urgency, g.jobs, g.saved_g])).toEqual([
      ['urgent', 1, -5],
      ['normal', 2, 21.1],
      ['flexible', 1, 5],
    ]);
    expect(report.by_day.map((g) => [g.day, g.jobs, g.actual_g])).toEqual([
      ['2026-01-05', 2, 30],
      ['2026-01-06', 1, 40],
      ['2026-01-07', 1, 1.1],
    ]);
  });

  it('keeps only the days between from and to, both included', () => {
    const report = carbonReport(JOBS, { generatedAtMs: JAN5, fromDay: '2026-01-06', toDay: '2026-01-06' });
    expect(report).toMatchObject({ from: '2026-01-06', to: '2026-01-06', totals: { jobs: 1, actual_g: 40 } });
    expect(report.by_day.map((g) => g.day)).toEqual(['2026-01-06']);
    expect(carbonReport(JOBS, { generatedAtMs: JAN5, fromDay: '2026-01-06' }).totals.jobs).toBe(2);
    expect(carbonReport(JOBS, { generatedAtMs: JAN5, toDay: '2026-01-05' }).totals.jobs).toBe(2);
  });

  it('is all zeros, with empty groups, when no job finished', () => {
    expect(carbonReport([], { generatedAtMs: JAN5 })).toEqual({
      generated_at: '2026-01-05T12:00:00.000Z',
      from: null,
      to: null,
      totals: { jobs: 0, energy_kwh: 0, planned_g: 0, actual_g: 0, counterfactual_g: 0, saved_g: 0 },
      by_cluster: [],
      by_urgency: [],
      by_day: [],
    });
  });

  it('writes CSV: a total row, then one per cluster, urgency and day', () => {
    const csv = carbonReportCsv(carbonReport(JOBS.slice(0, 2), { generatedAtMs: JAN5 }));
    expect(csv).toBe(
      [
        'group,key,jobs,energy_kwh,planned_g,actual_g,counterfactual_g,saved_g',
        'total,all,2,0.15,30,30,55,25',
        'cluster,carbon-jp,1,0.1,18,20,25,5',
        'cluster,carbon-kr,1,0.05,12,10,30,20',
        'urgency,normal,1,0.05,12,10,30,20',
        'urgency,flexible,1,0.1,18,20,25,5',
        'day,2026-01-05,2,0.15,30,30,55,25',
        '',
      ].join('\n'),
    );
  });
});

describe('carbon in the API', () => {
  let t: TestHub;
  beforeEach(async () => {
    t = await testHub();
    for (const aw of JOBS) await t.hub.lifecycle.store.insert(aw);
  });
  afterEach(() => t.hub.stop());

  const get = (url: string) => t.hub.app.inject({ method: 'GET', url });

  it('GET /hub/appwrappers/:id shows urgency, pool and the carbon account', async () => {
    const res = await get('/hub/appwrappers/a');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      job_id: 'a',
      urgency: 'normal',
      pool: 'FAST',
      carbon: { planned_g: 12, actual_g: 10, counterfactual_g: 30, saved_g: 20, energy_kwh: 0.05, basis: 'measured' },
    });
    expect((await get('/hub/appwrappers/e')).json()).toMatchObject({ urgency: 'normal', carbon: null });
  });

  it('shows the same in list items', async () => {
    const list = (await get('/hub/appwrappers?phase=Succeeded')).json();
    expect(list.items.map((i: { job_id: string; urgency: string; carbon: { saved_g: number } | null }) => [i.job_id, i.urgency, i.carbon?.saved_g ?? null])).toEqual([
      ['a', 'normal', 20],
      ['b', 'flexible', 5],
      ['c', 'urgent', -5],
      ['e', 'normal', null],
    ]);
  });

  it('GET /hub/report answers JSON, and CSV with ?format=csv', async () => {
    const json = await get('/hub/report');
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.json()).toMatchObject({ generated_at: new Date(t.clock.now()).toISOString(), totals: { jobs: 4, saved_g: 21.1 } });
    expect(json.json().by_cluster.map((g: { cluster: string }) => g.cluster)).toEqual(['carbon-jp', 'carbon-kr']);

    const csv = await get('/hub/report?format=csv&from=2026-01-06&to=2026-01-07');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.body.split('\n').slice(0, 2)).toEqual(['group,key,jobs,energy_kwh,planned_g,actual_g,counterfactual_g,saved_g', 'total,all,2,0.200001,40,41.1,37.2,-3.9']);
  });

  it.each([
    ['from=2026-1-5', 'from', 'YYYY-MM-DD'],
    ['to=2026-02-30', 'to', 'exists'],
    ['from=2026-01-07&to=2026-01-06', 'to', 'before from'],
    ['format=xml', 'format', ''],
    ['day=2026-01-05', 'day', 'unknown field'],
  ])('GET /hub/report?%s is a 400 naming %s', async (query, field, message) => {
    const res = await get(`/hub/report?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toContainEqual({ field, message: expect.stringContaining(message) });
  });
});
