import { appendFile, mkdir, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { csvLine } from '../domain/csv.js';
import type { Metrics } from '../metrics/metrics.js';
import { DECISION_COLUMNS, decisionsOf, type CycleDecisions, type Decision, type DecisionLog, type DecisionSource } from '../scheduler/decisions.js';

export interface DecisionLogOptions {
  /** CSV file the decisions are appended to (created with its header, its directory too); none = memory only. */
  path?: string;
  /** How many of the latest decisions are kept in memory for `GET /hub/decisions`. */
  memoryLimit: number;
}

export const DEFAULT_DECISION_MEMORY_LIMIT = 10_000;

/**
 * The hub's decision log: every cycle's decisions go to an in-memory ring (the latest `memoryLimit`, served
 * by the API) and are appended to a CSV file. Appends are queued in order behind one another, so the
 * schedule cycle never waits on the disk. A file that cannot be opened or written is logged and counted,
 * never thrown: the decisions of that cycle stay in memory only, and the next cycle tries the file again.
 */
export class CsvDecisionLog implements DecisionLog, DecisionSource {
  private readonly ring: Decision[] = [];
  private writes: Promise<void> = Promise.resolve();
  /** For a destination that is not a regular file (a FIFO, /dev/stdout): its size says nothing, the header goes once. */
  private headerSent = false;

  constructor(
    private readonly options: DecisionLogOptions,
    private readonly deps: { logger: Logger; metrics: Metrics },
  ) {}

  get path(): string | undefined {
    return this.options.path;
  }

  record(cycle: CycleDecisions): void {
    let decisions: Decision[];
    try {
      decisions = decisionsOf(cycle);
    } catch (error) {
      // A bug here must not cost the cycle its plan: it is already applied.
      this.deps.logger.error({ err: error }, 'decision log: could not work out the decisions of this cycle');
      return;
    }
    if (!decisions.length) return;
    // One by one: a spread call takes only so many arguments (a cycle of 130,000 decisions overflowed it).
    for (const decision of decisions.slice(-this.options.memoryLimit)) this.ring.push(decision);
    if (this.ring.length > this.options.memoryLimit) this.ring.splice(0, this.ring.length - this.options.memoryLimit);
    this.deps.metrics.recordDecisions(decisions.length);
    const path = this.options.path;
    if (path === undefined) return;
    const text = decisions.map((d) => csvLine(DECISION_COLUMNS.map((c) => d[c]))).join('');
    this.writes = this.writes.then(() => this.append(path, text));
  }

  private async append(path: string, text: string): Promise<void> {
    /** The size of the regular file before this append (0 for one it creates); none for a FIFO or a device. */
    let sizeBefore: number | undefined;
    try {
      // Looked at before every append, not once: a file rotated away (moved, or truncated) while the hub runs
      // starts again with its header, and so does one whose first append failed.
      const target = await stat(path).catch(() => undefined);
      sizeBefore = target === undefined ? 0 : target.isFile() ? target.size : undefined;
      if (target === undefined) await mkdir(dirname(path), { recursive: true });
      const needsHeader = target === undefined || (target.isFile() ? target.size === 0 : !this.headerSent);
      if (needsHeader) text = csvLine(DECISION_COLUMNS) + text;
      await appendFile(path, text, 'utf8');
      if (needsHeader) this.headerSent = true;
    } catch (error) {
      // Part of the text may have reached the file (a disk that filled up): cut back, or the next row would
      // run on from a half row.
      if (sizeBefore !== undefined) await truncate(path, sizeBefore).catch(() => undefined);
      this.deps.metrics.recordDecisionLogFailure();
      this.deps.logger.error({ err: error, path }, `decision log: cannot append to ${path}; this cycle's decisions are kept in memory only`);
    }
  }

  recent(limit: number): Decision[] {
    return this.ring.slice(Math.max(0, this.ring.length - limit));
  }

  /** Resolves once every queued append has been written (or has failed and been logged). */
  async close(): Promise<void> {
    await this.writes;
  }
}
