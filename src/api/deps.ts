import type { Logger } from 'pino';
import type { AppWrapper } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import type { DispatchSummary } from '../dispatcher/dispatch-cycle.js';
import type { CarbonFeed } from '../hub/carbon-feed.js';
import type { ClusterMonitor } from '../hub/cluster-monitor.js';
import type { Lifecycle } from '../hub/lifecycle.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DecisionSource } from '../scheduler/decisions.js';
import type { ScheduleSummary, WhatIfAnswer } from '../scheduler/schedule-cycle.js';

/** What the API needs from the hub; `main.ts` builds it. */
export interface HubDeps {
  lifecycle: Lifecycle;
  clusters: ClusterMonitor;
  carbon: CarbonFeed;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Runs a schedule cycle now (after one in progress). */
  schedule(): Promise<ScheduleSummary>;
  /** The plan the next schedule cycle would apply, not applied. */
  dryRunSchedule(): Promise<ScheduleSummary>;
  /** Where and when a job that is not stored would run, planned with everything else; stores nothing. */
  whatIf(candidate: AppWrapper): Promise<WhatIfAnswer>;
  /** Runs a dispatch cycle now (after one in progress). */
  dispatch(): Promise<DispatchSummary>;
  cancel(jobId: string): Promise<AppWrapper>;
  lastSchedule(): ScheduleSummary | undefined;
  lastDispatch(): DispatchSummary | undefined;
  /** The decision log's latest decisions, for `GET /hub/decisions`; absent = an empty log. */
  decisions?: DecisionSource;
  /** Why the store refuses every change until a restart, if it does: the hub is then not alive (`GET /health`). */
  storeFault(): string | undefined;
  /** When set, mutating routes require `Authorization: Bearer <apiToken>`. */
  apiToken?: string;
  /**
   * Whether small answers wait for the end of their event-loop turn to leave together (`sendAnswersTogether`):
   * for a store that answers writes at once. A store whose writes are answered by a commit already releases
   * them together.
   */
  holdSmallAnswers?: boolean;
}
