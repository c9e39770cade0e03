import { parseConfig, type Config } from '../../src/config/config.js';
import { createHub, type Hub, type HubOverrides } from '../../src/main.js';
import { optimize } from '../../src/optimizer/index.js';
import { FakeClock } from './fake-clock.js';
import { captureLogger, type CapturedLogger } from './logger.js';
import { ManualTickers } from './manual-ticker.js';

export interface TestHub {
  hub: Hub;
  clock: FakeClock;
  tickers: ManualTickers;
  log: CapturedLogger;
  config: Config;
}

/**
 * A whole hub (memory store, real spokes, optimizer, API) on a fake clock with manual tickers and a captured
 * log. `config` is merged over the defaults; port 0 so that tests that listen get a free port. The
 * optimizer runs in-process unless the overrides say `optimize: undefined` (then in its worker thread,
 * as in production).
 */
export async function testHub(config: Record<string, unknown> = {}, overrides: HubOverrides = {}): Promise<TestHub> {
  const clock = overrides.clock instanceof FakeClock ? overrides.clock : new FakeClock();
  const tickers = new ManualTickers();
  const log = captureLogger();
  // The memory store unless a test asks for another, so that tests do not touch the disk.
  const parsed = parseConfig({ port: 0, host: '127.0.0.1', store: { kind: 'memory' }, ...config });
  const hub = await createHub(parsed, { clock, logger: log.logger, ticker: tickers.factory, processMetrics: false, optimize, ...overrides });
  return { hub, clock, tickers, log, config: parsed };
}
