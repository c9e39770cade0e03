import { Worker } from 'node:worker_threads';
import type { OptimizeInput, OptimizeOptions, OptimizeOutput } from '../optimizer/index.js';
import { workerEntry } from '../platform/worker-entry.js';
import type { SolveReply, SolveRequest } from './optimizer-worker.js';
import type { OptimizeFn } from './schedule-cycle.js';

/** Extra time the worker gets beyond the solver's own limit before it is presumed stuck and replaced. */
const GRACE_MS = 15_000;
/** Why a request to a closed optimizer fails: its caller plans with its fallback. */
const CLOSED = 'the optimizer is closed: the hub is stopping';

class OptimizerWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptimizerWorkerError';
  }
}

interface Pending {
  resolve: (output: OptimizeOutput) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Runs `optimize()` in one long-lived worker thread (the HiGHS wasm stays loaded between cycles). A
 * worker that crashes, runs out of memory or overruns its time limit is terminated, its request rejected,
 * and a fresh one started for the next request.
 */
export class ThreadedOptimizer {
  private worker: Worker | undefined;
  private closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly defaultTimeLimitSeconds: number) {}

  readonly optimize: OptimizeFn = (input: OptimizeInput, options: Partial<OptimizeOptions>) => {
    if (this.closed) return Promise.reject(new OptimizerWorkerError(CLOSED));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const limitMs = (options.timeLimitSeconds ?? this.defaultTimeLimitSeconds) * 1000 + GRACE_MS;
    return new Promise<OptimizeOutput>((resolve, reject) => {
      // Posted before the timer is armed: a request that cannot be sent (not cloneable) leaves no timer that
      // would later replace the worker under someone else's request.
      worker.postMessage({ id, input, options } satisfies SolveRequest);
      const timer = setTimeout(() => this.fail(new OptimizerWorkerError(`the optimizer did not answer within ${limitMs} ms; worker replaced`)), limitMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  };

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(workerEntry('optimizer-worker', import.meta.url));
    worker.on('message', (reply: SolveReply) => {
      const request = this.pending.get(reply.id);
      if (!request) return;
      this.pending.delete(reply.id);
      clearTimeout(request.timer);
      if ('output' in reply) request.resolve(reply.output);
      else request.reject(Object.assign(new OptimizerWorkerError(reply.error.message), { name: reply.error.name }));
    });
    worker.on('error', (error) => this.fail(new OptimizerWorkerError(`the optimizer worker crashed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.fail(new OptimizerWorkerError(`the optimizer worker exited with code ${code}`));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Rejects every request in flight and drops the worker. */
  private fail(error: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    for (const [id, request] of this.pending) {
      clearTimeout(request.timer);
      request.reject(error);
      this.pending.delete(id);
    }
    void worker?.terminate();
  }

  /**
   * Stops the worker. A solve in flight is rejected at once (its caller plans with its fallback, in seconds,
   * instead of waiting out a limit as long as the hub's shutdown bound), and so is every later request.
   */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.fail(new OptimizerWorkerError(CLOSED));
    await worker?.terminate();
  }
}
