import type { Clock } from '../domain/clock.js';
import type { CarbonProvider, CarbonReading } from './types.js';

export type MockScenario = 'diurnal' | 'seed-migration';

export interface MockProviderOptions {
  scenario: MockScenario;
  /** `seed-migration`: length of each of the two steps, seconds. */
  stepSeconds: number;
  /** Spacing of forecast points, seconds. */
  resolutionSeconds: number;
}

export const DEFAULT_MOCK_OPTIONS: Readonly<MockProviderOptions> = Object.freeze({
  scenario: 'diurnal',
  stepSeconds: 300,
  resolutionSeconds: 300,
});

/** The seed's migration scenario (migration guide, seed 003): T1 then T2, five minutes apart. */
export const SEED_SCENARIO_STEPS: ReadonlyArray<Readonly<Record<string, number>>> = [
  { KR: 400, 'JP-TK': 450, JP: 450, CN: 550 },
  { KR: 700, 'JP-TK': 300, JP: 300, CN: 600 },
];

interface DiurnalShape {
  /** Daily mean, gCO2/kWh. */
  mean: number;
  /** Half the peak-to-trough swing. */
  amplitude: number;
  /** UTC hour of the daily peak. */
  peakHourUtc: number;
}

/**
 * Shapes loosely after each grid: Korea's coal/nuclear mix swings little, Tokyo's solar share digs a
 * midday trough, the Chinese grid is dirtiest. Unknown zones get a shape derived from their name.
 */
const DIURNAL_SHAPES: Readonly<Record<string, DiurnalShape>> = {
  KR: { mean: 430, amplitude: 60, peakHourUtc: 11 },
  'JP-TK': { mean: 470, amplitude: 110, peakHourUtc: 10 },
  JP: { mean: 470, amplitude: 110, peakHourUtc: 10 },
  CN: { mean: 560, amplitude: 50, peakHourUtc: 12 },
};

function shapeFor(zone: string): DiurnalShape {
  const known = DIURNAL_SHAPES[zone];
  if (known) return known;
  let hash = 0;
  for (const ch of zone) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return { mean: 300 + (hash % 300), amplitude: 40 + (hash % 80), peakHourUtc: hash % 24 };
}

/** Intensity of a diurnal zone at an instant: a daily cosine plus a smaller twice-daily harmonic. */
export function diurnalIntensity(zone: string, atMs: number): number {
  const { mean, amplitude, peakHourUtc } = shapeFor(zone);
  const hour = (atMs / 3_600_000) % 24;
  const phase = (2 * Math.PI * (hour - peakHourUtc)) / 24;
  return Math.round((mean + amplitude * Math.cos(phase) + 0.25 * amplitude * Math.cos(2 * phase)) * 10) / 10;
}

/**
 * The embedded default provider. `diurnal` forecasts its own curve exactly. `seed-migration` alternates
 * the seed's T1 and T2 tables every `stepSeconds` from its creation and forecasts by persistence (the
 * current value for every future slot), which is what makes the seed's plan move when T2 arrives.
 */
export class MockCarbonProvider implements CarbonProvider {
  readonly name = 'mock';
  private readonly options: MockProviderOptions;
  private readonly startedAt: number;

  constructor(
    private readonly clock: Clock,
    options: Partial<MockProviderOptions> = {},
  ) {
    this.options = { ...DEFAULT_MOCK_OPTIONS, ...options };
    this.startedAt = clock.now();
  }

  private valueAt(zone: string, atMs: number): number {
    if (this.options.scenario === 'diurnal') return diurnalIntensity(zone, atMs);
    const step = Math.floor((atMs - this.startedAt) / (this.options.stepSeconds * 1000));
    const table = SEED_SCENARIO_STEPS[((step % 2) + 2) % 2] as Record<string, number>;
    return table[zone] ?? diurnalIntensity(zone, atMs);
  }

  async current(zone: string): Promise<CarbonReading> {
    const now = this.clock.now();
    return { zone, at: now, gco2PerKwh: this.valueAt(zone, now), source: `mock:${this.options.scenario}` };
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const source = `mock:${this.options.scenario}`;
    const persistence = this.options.scenario === 'seed-migration' ? this.valueAt(zone, this.clock.now()) : undefined;
    const stepMs = this.options.resolutionSeconds * 1000;
    const out: CarbonReading[] = [];
    for (let at = fromMs; at < toMs; at += stepMs) {
      out.push({ zone, at, gco2PerKwh: persistence ?? this.valueAt(zone, at), source });
    }
    return out;
  }
}
