import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { DB_FILE, SqliteStore } from '../../src/store/sqlite-store.js';
import Database from 'better-sqlite3';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { deferred } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { spokeJob } from '../support/spoke-job-builder.js';
import { tempDirs } from '../support/temp-dir.js';

const tempDir = tempDirs('caspian-hub-store-');

const sqlite = (dataDir: string) => ({ store: { kind: 'sqlite', data_dir: dataDir } });

describe('the hub on the SQLite store', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('serves after a restart every AppWrapper it acknowledged, in its last state', async () => {
    const dir = tempDir();
    t = await testHub(sqlite(dir));
    const submit = (job_id: string) => t!.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 1, mem_gb: 1, runtime_minutes: 10, deadline_minutes: 600 } });
    expect((await submit('kept')).statusCode).toBe(201);
    expect((await submit('dropped')).statusCode).toBe(201);
    expect((await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/dropped' })).statusCode).toBe(200);
    const before = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers' })).json();
    await t.hub.stop();

    t = await testHub(sqlite(dir));
    const after = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers' })).json();
    expect(after).toEqual(before);
    expect(after.items.map((i: { job_id: string; phase: string }) => [i.job_id, i.phase])).toEqual([
      ['kept', 'Pending'],
      ['dropped', 'Cancelled'],
    ]);
  });

  it('when its store fails, logs it, counts it and fails its liveness probe so that it gets restarted', async () => {
    const dir = tempDir();
    t = await testHub(sqlite(dir));
    const submit = (job_id: string) => t!.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 1, mem_gb: 1, runtime_minutes: 10, deadline_minutes: 600 } });
    expect((await submit('kept')).statusCode).toBe(201);
    expect((await t.hub.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    // Another program breaks the database under the hub.
    const vandal = new Database(join(dir, DB_FILE));
    vandal.exec('DROP TABLE appwrappers');
    vandal.close();

    const lost = await submit('lost');
    expect(lost.statusCode).toBe(503);
    expect(lost.json()).toEqual({ error: 'Service Unavailable', message: 'the store refuses every change until the hub restarts; GET /health says why', details: [] });
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers' })).statusCode).toBe(503);
    const health = await t.hub.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: 'failing', reason: expect.stringMatching(/refuses further use until the hub restarts: a commit failed: no such table/) });
    const scrape = await t.hub.app.inject({ method: 'GET', url: '/metrics' });
    expect(scrape.statusCode).toBe(200);
    expect(scrape.body).toMatch(/^caspian_store_failed 1$/m);
    expect(t.log.lines.filter((l) => l.msg === 'store failed: every write is refused until the hub restarts')).toEqual([
      expect.objectContaining({ level: 50, file: join(dir, DB_FILE), err: expect.objectContaining({ message: expect.stringMatching(/a commit failed/) }) }),
    ]);
  });

  it('refuses to build on a corrupt data file with a ConfigError naming store.data_dir, and keeps the file', async () => {
    const dir = tempDir();
    const file = join(dir, DB_FILE);
    writeFileSync(file, 'this is not a database, but someone may want it back');
    const error = await testHub(sqlite(dir)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^invalid configuration:\n {2}store\.data_dir: cannot open the store .*caspian\.db: .*not a database/);
    expect(readFileSync(file, 'utf8')).toBe('this is not a database, but someone may want it back');
  });

  it('refuses to build on a database whose job_id index is damaged (the rows themselves read fine), and keeps the file', async () => {
    const dir = tempDir();
    const before = SqliteStore.open(dir);
    for (const id of ['a', 'b', 'c']) await before.insert(appWrapper(id).obj());
    await before.close();
    // Scribbles over the index's page: the table's own pages, all that reading the rows touches, stay intact.
    // Without the check the hub started, served the old rows, and failed its first write ("database disk image is malformed").
    const file = join(dir, DB_FILE);
    const db = new Database(file, { readonly: true });
    const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'appwrappers'").get() as { rootpage: number };
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const bytes = readFileSync(file);
    bytes.fill(0xa5, (rootpage - 1) * pageSize, rootpage * pageSize);
    writeFileSync(file, bytes);

    const error = await testHub(sqlite(dir)).then(
      (hub) => {
        t = hub;
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/store\.data_dir: cannot open the store .*caspian\.db: the file is damaged \(SQLite quick_check: .+\); restore it from a backup/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('reconciles on start: adopts the Job of an AppWrapper stored as Planned, and logs the summary', async () => {
    const dir = tempDir();
    const clock = new FakeClock();
    const before = SqliteStore.open(dir);
    await before.insert({ ...appWrapper('lost-ack').phase('Planned').target('carbon-kr').obj(), plannedStartAt: clock.now() });
    await before.insert(appWrapper('waiting').obj());
    await before.close();
    const spokes: Spoke[] = [
      ['KR', 'carbon-kr', 'KR'],
      ['JP', 'carbon-jp', 'JP-TK'],
      ['CN', 'carbon-cn', 'CN'],
    ].map(([region, name, zone]) => ({ info: { name: name!, region: region!, zone: zone! }, client: new SimulatedSpoke(name!, { cpu: 16, memGb: 64, gpu: 2 }, clock) }));
    await spokes[0]!.client.createJob(spokeJob('lost-ack').obj());

    t = await testHub(sqlite(dir), { clock, spokes });
    await t.hub.start();
    expect(await t.hub.lifecycle.store.get('lost-ack')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-kr', jobName: 'lost-ack' } });
    expect(t.log.messages()).toContain('reconciled with the spokes: loaded 2 AppWrappers, adopted 1 Jobs');
    expect(t.log.lines.find((l) => l.msg === 'CASPIAN hub listening')).toMatchObject({ store: 'sqlite' });
  });

  it('stopped while it starts (a SIGTERM during reconcile), it neither ticks nor listens once both settle', async () => {
    const clock = new FakeClock();
    const held = deferred();
    const kr = new SimulatedSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 2 }, clock);
    const list = kr.listJobs.bind(kr);
    // The Job list that reconcile asks for at start waits until the stop is under way.
    vi.spyOn(kr, 'listJobs').mockImplementationOnce(async () => {
      await held.promise;
      return list();
    });
    const spokes: Spoke[] = [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: kr },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' }, client: new SimulatedSpoke('carbon-jp', { cpu: 16, memGb: 64, gpu: 2 }, clock) },
      { info: { name: 'carbon-cn', region: 'CN', zone: 'CN' }, client: new SimulatedSpoke('carbon-cn', { cpu: 16, memGb: 64, gpu: 2 }, clock) },
    ];
    t = await testHub(sqlite(tempDir()), { clock, spokes });
    const hub = t.hub;
    const starting = hub.start().then(
      () => 'started',
      (error: unknown) => (error as Error).message,
    );
    await vi.waitFor(() => expect(kr.listJobs).toHaveBeenCalled());
    const stopping = hub.stop();
    held.resolve();
    expect(await starting).toBe('the hub was stopped while it started');
    await stopping;
    expect(['carbon', 'schedule', 'dispatch'].filter((name) => t!.tickers.isRunning(name))).toEqual([]);
    expect(hub.app.server.listening).toBe(false);
    expect(t.log.messages()).toContain('CASPIAN hub stopped');
    expect(t.log.messages()).not.toContain('CASPIAN hub listening');
  });
});
