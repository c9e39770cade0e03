import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

/**
 * Every dashboard under dashboards/ against a JSON Schema generated, when the test runs, from the
 * `Dashboard` type that `@grafana/schema` exports (the type Grafana's own frontend builds dashboards with,
 * so no committed copy can go stale), plus what that type cannot say: panel ids unique, panels on the
 * 24-column grid without overlapping, every panel on a datasource that grafana/provisioning defines, every
 * query with a refId and an expression, and no bare `or vector(0)` fallback. Broken copies of the dashboard
 * prove each check can fail.
 */

const ROOT = join(import.meta.dirname, '../..');
const DASHBOARDS = join(ROOT, 'dashboards');
const DATASOURCE_PROVISIONING = join(ROOT, 'grafana/provisioning/datasources');
const GRID_COLUMNS = 24;

type Json = Record<string, unknown>;
interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface Panel {
  id?: number;
  type?: unknown;
  title?: string;
  gridPos?: GridPos;
  datasource?: { type?: string; uid?: string } | null;
  targets?: Json[];
  panels?: Panel[];
}

/** Where `@grafana/schema` declares its package entry's types (`Dashboard` among them). */
function grafanaSchemaEntry(): string {
  const manifest = createRequire(import.meta.url).resolve('@grafana/schema/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: { '.': { types: string } } };
  return join(dirname(manifest), exports['.'].types);
}

/**
 * The JSON Schema of `@grafana/schema`'s `Dashboard`. Its declarations give two different types the same
 * name (`DataSourceRef`, common and dashboard), so every definition is inlined (`expose: 'none'`) rather than
 * named. Interfaces become `additionalProperties: false`: a misspelt or misplaced key fails.
 */
function dashboardSchema(): Json {
  const generator = createGenerator({ path: grafanaSchemaEntry(), type: 'Dashboard', expose: 'none', topRef: true, jsDoc: 'none', skipTypeCheck: true });
  return generator.createSchema('Dashboard') as Json;
}

/** Datasources that grafana/provisioning/datasources/*.yml creates, by uid. */
function provisionedDatasources(): Map<string, string> {
  const byUid = new Map<string, string>();
  for (const file of readdirSync(DATASOURCE_PROVISIONING).filter((f) => /\.ya?ml$/.test(f))) {
    const { datasources = [] } = parseYaml(readFileSync(join(DATASOURCE_PROVISIONING, file), 'utf8')) as { datasources?: { uid: string; type: string }[] };
    for (const d of datasources) byUid.set(d.uid, d.type);
  }
  return byUid;
}

function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

const overlap = (a: GridPos, b: GridPos): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** What the schema cannot express. Panels of a collapsed row share the grid with the top level. */
function layoutAndQueryProblems(dashboard: { panels?: Panel[]; title?: unknown; uid?: unknown }, datasources: Map<string, string>): string[] {
  const problems: string[] = [];
  if (typeof dashboard.title !== 'string' || dashboard.title === '') problems.push('dashboard: no title');
  if (typeof dashboard.uid !== 'string' || dashboard.uid === '') problems.push('dashboard: no uid (provisioned links need a stable one)');
  const panels = allPanels(dashboard.panels);
  const seen = new Map<number, string>();
  const placed: { name: string; pos: GridPos }[] = [];
  for (const p of panels) {
    const name = `panel ${String(p.id)} "${p.title ?? ''}"`;
    if (typeof p.id !== 'number') problems.push(`${name}: no id`);
    else if (seen.has(p.id)) problems.push(`${name}: id also used by ${seen.get(p.id)}`);
    else seen.set(p.id, name);

    const pos = p.gridPos;
    if (!pos) problems.push(`${name}: no gridPos`);
    else {
      const whole = [pos.x, pos.y, pos.w, pos.h].every((n) => Number.isInteger(n));
      if (!whole || pos.x < 0 || pos.y < 0 || pos.w < 1 || pos.h < 1) problems.push(`${name}: gridPos ${JSON.stringify(pos)} is not whole positive cells`);
      if (pos.x + pos.w > GRID_COLUMNS) problems.push(`${name}: gridPos x ${pos.x} + w ${pos.w} passes the ${GRID_COLUMNS} columns`);
      for (const other of placed) if (overlap(pos, other.pos)) problems.push(`${name}: overlaps ${other.name}`);
      placed.push({ name, pos });
    }

    if (p.type === 'row') continue;
    const ds = p.datasource;
    if (!ds?.uid) problems.push(`${name}: no datasource uid`);
    else if (!datasources.has(ds.uid)) problems.push(`${name}: datasource uid "${ds.uid}" is not provisioned (${[...datasources.keys()].join(', ')})`);
    else if (ds.type !== datasources.get(ds.uid)) problems.push(`${name}: datasource type "${String(ds.type)}", provisioned as "${datasources.get(ds.uid)}"`);
    const targets = p.targets ?? [];
    if (targets.length === 0) problems.push(`${name}: no query`);
    const refIds = new Set<unknown>();
    for (const [i, t] of targets.entries()) {
      if (typeof t.refId !== 'string' || t.refId === '') problems.push(`${name}: query ${i} has no refId`);
      else if (refIds.has(t.refId)) problems.push(`${name}: refId ${t.refId} twice`);
      refIds.add(t.refId);
      if (typeof t.expr !== 'string' || t.expr.trim() === '') problems.push(`${name}: query ${String(t.refId ?? i)} has no expr`);
      // `or vector(0)` adds a label-less 0 series beside every grouped one; `or on() vector(0)` only fills an empty result.
      else if (/\bor\s+vector\s*\(/.test(t.expr)) problems.push(`${name}: query ${String(t.refId ?? i)} falls back with "or vector(...)"; use "or on() vector(...)"`);
      const tds = t.datasource as { uid?: string } | undefined;
      if (tds?.uid !== undefined && tds.uid !== ds?.uid) problems.push(`${name}: query ${String(t.refId ?? i)} on datasource "${tds.uid}", the panel on "${String(ds?.uid)}"`);
    }
  }
  return problems;
}

const formatSchemaErrors = (errors: ErrorObject[] | null | undefined): string[] =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`);

const dashboardFiles = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));
const main = JSON.parse(readFileSync(join(DASHBOARDS, 'carbon-hub-dashboard.json'), 'utf8')) as Json & { panels: Panel[] };

describe("Grafana dashboards against @grafana/schema's Dashboard type", () => {
  let schema: Json;
  let validate: (dashboard: unknown) => string[];

  beforeAll(() => {
    schema = dashboardSchema();
    const datasources = provisionedDatasources();
    // strict: false because the generator writes TSDoc keywords (e.g. `deprecated`) that Ajv does not know.
    const ajvValidate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    validate = (dashboard) => {
      const schemaProblems = ajvValidate(dashboard) ? [] : formatSchemaErrors(ajvValidate.errors);
      return [...schemaProblems, ...layoutAndQueryProblems(dashboard as { panels?: Panel[] }, datasources)];
    };
  }, 30_000);

  it('the schema is the real Dashboard type: panels, gridPos and schemaVersion as Grafana declares them', () => {
    const dashboard = (schema as { definitions: { Dashboard: { required: string[]; properties: Record<string, unknown> } } }).definitions.Dashboard;
    expect(dashboard.required).toContain('schemaVersion');
    expect(Object.keys(dashboard.properties)).toEqual(expect.arrayContaining(['panels', 'title', 'uid', 'templating', 'annotations', 'time']));
  });

  it('finds the provisioned datasource the dashboards use', () => {
    expect([...provisionedDatasources()]).toEqual([['prometheus', 'prometheus']]);
  });

  it('the CASPIAN dashboard keeps the title, uid and schema version its provisioning and links rely on', () => {
    expect({ title: main.title, uid: main.uid, schemaVersion: main.schemaVersion }).toEqual({ title: 'CASPIAN Carbon-Aware Scheduling', uid: 'caspian-hub', schemaVersion: 39 });
  });

  it.each(dashboardFiles)('%s is valid', (file) => {
    expect(validate(JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')))).toEqual([]);
  });

  /** A deep copy of the dashboard with `change` applied to its first panel (or to the dashboard). */
  const broken = (change: (panel: Panel & Json, dashboard: Json & { panels: Panel[] }) => void): unknown => {
    const copy = structuredClone(main);
    change(copy.panels[0] as Panel & Json, copy);
    return copy;
  };

  it.each([
    { what: 'a panel without gridPos', change: (p: Panel & Json) => delete p.gridPos, finds: /no gridPos/ },
    { what: 'a panel whose type is a number', change: (p: Panel & Json) => (p.type = 7), finds: /\/panels\/0.* must be string/ },
    { what: 'a misspelt panel key', change: (p: Panel & Json) => (p.gridpos = p.gridPos), finds: /must NOT have additional properties: gridpos/ },
    { what: 'a gridPos with a string width', change: (p: Panel & Json) => ((p.gridPos as unknown as Json).w = '12'), finds: /gridPos\/w must be number/ },
    { what: 'a panel wider than the grid', change: (p: Panel & Json) => (p.gridPos = { x: 12, y: 0, w: 13, h: 8 }), finds: /passes the 24 columns/ },
    { what: 'two panels on the same cells', change: (p: Panel & Json, d: Json & { panels: Panel[] }) => (p.gridPos = { ...(d.panels[1]?.gridPos as GridPos) }), finds: /overlaps/ },
    { what: 'two panels with one id', change: (p: Panel & Json, d: Json & { panels: Panel[] }) => (p.id = d.panels[1]?.id as number), finds: /id also used by/ },
    { what: 'a datasource nobody provisions', change: (p: Panel & Json) => (p.datasource = { type: 'prometheus', uid: 'elsewhere' }), finds: /not provisioned/ },
    { what: 'a query without expr', change: (p: Panel & Json) => delete (p.targets as Json[])[0]?.expr, finds: /has no expr/ },
    { what: 'a query without refId', change: (p: Panel & Json) => delete (p.targets as Json[])[0]?.refId, finds: /has no refId/ },
    { what: 'a bare "or vector(0)" fallback', change: (p: Panel & Json) => ((p.targets as Json[])[0]!.expr = 'sum by (zone) (grid_carbon_intensity_gco2_per_kwh) or vector(0)'), finds: /use "or on\(\) vector/ },
    { what: 'a dashboard without schemaVersion', change: (_p: Panel & Json, d: Json) => delete d.schemaVersion, finds: /must have required property 'schemaVersion'/ },
  ])('rejects $what', ({ change, finds }) => {
    const problems = validate(broken(change));
    expect(problems.some((p) => finds.test(p)), problems.join('\n')).toBe(true);
  });
});
