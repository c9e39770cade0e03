import type { Ticker } from '../../src/hub/periodic-loop.js';

/** Tickers that fire only when a test calls `tick(name)`. */
export class ManualTickers {
  private readonly handlers = new Map<string, () => void>();

  readonly factory = (_periodSeconds: number, name: string): Ticker => (onTick) => {
    this.handlers.set(name, onTick);
    return () => this.handlers.delete(name);
  };

  isRunning(name: string): boolean {
    return this.handlers.has(name);
  }

  tick(name: string): void {
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`ticker ${name} is not running`);
    handler();
  }
}
