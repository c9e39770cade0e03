import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import { appWrapperListSchema, appWrapperView, appWrapperViewSchema } from '../../src/api/views.js';
import { appWrapper } from '../support/app-wrapper-builder.js';

/**
 * The routes serialize AppWrapper views with a compiled response schema, which silently drops what it does
 * not declare and coerces what it declares differently. Every view, in every state, must come out exactly as
 * JSON.stringify would write it.
 */

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** AppWrappers covering every optional field, both ways. */
const cases: AppWrapper[] = [
  appWrapper('pending').obj(),
  { ...appWrapper('planned').phase('Planned').target('carbon-kr').obj(), targetPool: 'ECO', plannedStartAt: T0 + 60_000, co2EstimateG: 12.5 },
  {
    ...appWrapper('migrated').phase('Running').target('carbon-jp').placement({ cluster: 'carbon-kr', jobName: 'migrated-g2', generation: 2, pool: 'ECO' }).migrating().obj(),
    spec: { cpu: 2.5, memGb: 0.5, gpu: 1, runtimeMinutes: 90, deadlineMinutes: 600, dataGb: 12, affinityRegions: ['KR', 'JP'], urgency: 'flexible', checkpointing: false, image: 'python:3.12', command: ['python', '-c', 'print("a, \\"b\\"\\n")'] },
    startedAt: T0 + 1000,
    pastRuns: [{ cluster: 'carbon-jp', pool: 'FAST', startedAt: T0 - 60_000, endedAt: T0 }],
    metadata: { migrated_from: 'carbon-kr', migration_time: '1767571200.000' },
  },
  {
    ...appWrapper('done').phase('Succeeded').obj(),
    reason: 'Completed: ✓ ünïcødé',
    startedAt: T0,
    finishedAt: T0 + 3_600_000,
    carbonAccount: { plannedG: 35, actualG: 37.5, counterfactualG: 60, savedG: -2.25e-7, energyKwh: 0.1125, basis: 'forecast' },
  },
];

describe('AppWrapper view serialization', () => {
  it('the compiled response schemas write every view exactly as JSON.stringify does', async () => {
    const app = Fastify();
    app.get('/one/:i', { schema: { response: { 200: appWrapperViewSchema } } }, async (request) => appWrapperView(cases[Number((request.params as { i: string }).i)]!));
    app.get('/list', { schema: { response: { 200: appWrapperListSchema } } }, async () => ({ count: cases.length, items: cases.map(appWrapperView), next: null }));
    for (const [i, aw] of cases.entries()) {
      const response = await app.inject({ method: 'GET', url: `/one/${i}` });
      expect(response.body, aw.jobId).toBe(JSON.stringify(appWrapperView(aw)));
    }
    const list = await app.inject({ method: 'GET', url: '/list' });
    expect(list.json()).toEqual(JSON.parse(JSON.stringify({ count: cases.length, items: cases.map(appWrapperView), next: null })));
    await app.close();
  });

  it('declares every field the view has, at every level', () => {
    const declared = (schema: { properties?: Record<string, unknown> }, value: Record<string, unknown>, path: string): string[] =>
      Object.entries(value).flatMap(([key, child]) => {
        const sub = schema.properties?.[key] as { properties?: Record<string, unknown> } | undefined;
        if (!sub) return [`${path}${key}`];
        return child && typeof child === 'object' && !Array.isArray(child) && sub.properties ? declared(sub, child as Record<string, unknown>, `${path}${key}.`) : [];
      });
    for (const aw of cases) expect(declared(appWrapperViewSchema, appWrapperView(aw), '')).toEqual([]);
  });
});
