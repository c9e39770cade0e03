import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { FakeClock } from './fake-clock.js';

/**
 * KR and JP, each a simulated cluster of `cpu` cores and `memGb` on `clock`: the spokes to hand `testHub` and
 * the `regions` of its configuration (no network costs are implied; set `migration` as the test needs).
 */
export function twoRegions(cpu: number, memGb: number, clock = new FakeClock()): { clock: FakeClock; spokes: Spoke[]; regions: Record<string, unknown>[] } {
  const spokes: Spoke[] = [
    { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: new SimulatedSpoke('carbon-kr', { cpu, memGb, gpu: 0 }, clock) },
    { info: { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' }, client: new SimulatedSpoke('carbon-jp', { cpu, memGb, gpu: 0 }, clock) },
  ];
  const regions = [
    { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu, mem_gb: memGb } },
    { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu, mem_gb: memGb } },
  ];
  return { clock, spokes, regions };
}
