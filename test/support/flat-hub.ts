import type { CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import { parseConfig } from '../../src/config/config.js';
import type { Clock } from '../../src/domain/clock.js';
import type { WorkerPool } from '../../src/domain/cluster.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { clusterInfo } from '../../src/main.js';
import type { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { TestHub } from './hub.js';

/** Flat intensity per zone, changeable by the test; forecast by persistence. */
export class FlatProvider implements CarbonProvider {
  readonly name = 'flat';
  constructor(
    private readonly clock: Clock,
    readonly values: Record<string, number>,
  ) {}
  async current(zone: string): Promise<CarbonReading> {
    return { zone, at: this.clock.now(), gco2PerKwh: this.values[zone] ?? 500, source: 'flat', kind: 'measured' };
  }
  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const out: CarbonReading[] = [];
    for (let at = fromMs; at < toMs; at += 300_000) out.push({ zone, at, gco2PerKwh: this.values[zone] ?? 500, source: 'flat', kind: 'forecast' });
    return out;
  }
}

/**
 * The spokes `testHub` would make for the configuration's `regions`, each a `Client` (a SimulatedSpoke or a
 * subclass), and the clients by cluster for the test to drive.
 */
export function configuredSpokes<Client extends SimulatedSpoke>(
  regions: Record<string, unknown>[],
  clock: Clock,
  Client: new (name: string, capacity: { cpu: number; memGb: number; gpu: number }, clock: Clock, pools?: readonly WorkerPool[]) => Client,
): { spokes: Spoke[]; clients: Map<string, Client> } {
  const config = parseConfig({ regions, store: { kind: 'memory' } });
  const clients = new Map<string, Client>();
  const spokes = config.regions.map((r) => {
    const info = clusterInfo(r);
    const client = new Client(r.cluster, { cpu: r.capacity.cpu, memGb: r.capacity.mem_gb, gpu: r.capacity.gpu }, clock, info.pools);
    clients.set(r.cluster, client);
    return { info, client };
  });
  return { spokes, clients };
}

/** A `regions[]` entry of the configuration: `carbon-<name>` in zone `name`, with `cpu` cores and 64 GB, and its pools when given. */
export const region = (name: string, pools?: unknown[], cpu = 16) => ({
  name,
  cluster: `carbon-${name.toLowerCase()}`,
  context: `kind-carbon-${name.toLowerCase()}`,
  zone: name,
  capacity: { cpu, mem_gb: 64 },
  ...(pools && { pools }),
});

/** The API calls the scheduling tests make, through `inject`. */
export const submit = (t: TestHub, body: Record<string, unknown>) =>
  t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...body } });
export const schedule = async (t: TestHub) => (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
export const dispatch = async (t: TestHub) => (await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' })).json();
export const view = async (t: TestHub, id: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${id}` })).json();

/** Measured values per zone, changeable by the test, and no forecast: the feed holds each current value. */
export class MeasuredOnlyProvider extends FlatProvider {
  override async forecast(): Promise<CarbonReading[]> {
    return [];
  }
}
