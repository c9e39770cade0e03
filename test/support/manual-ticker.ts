import type { Ticker } from '../../src/hub/periodic-loop.js';

/** Tickers that fire only when a test calls `tick(name)` (or report a late one on `miss(name)`). */
export class ManualTickers {
  private readonly handlers = new Map<string, { onTick: () => void; onMissed: () => void }>();

  readonly factory = (_periodSeconds: number, name: string): Ticker => (onTick, onMissed) => {
    this.handlers.set(name, { onTick, onMissed });
    return () => this.handlers.delete(name);
  };

  isRunning(name: string): boolean {
    return this.handlers.has(name);
  }

  tick(name: string): void {
    this.handler(name).onTick();
  }

  miss(name: string): void {
    this.handler(name).onMissed();
  }

  private handler(name: string): { onTick: () => void; onMissed: () => void } {
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`ticker ${name} is not running`);
    return handler;
  }
}
