import type { Resources } from './app-wrapper.js';

/** A spoke cluster as configured: one per grid region. */
export interface ClusterInfo {
  /** Cluster name, e.g. `carbon-kr`. */
  name: string;
  /** Grid region, e.g. `KR`. */
  region: string;
  /** Carbon-data zone of the region, e.g. `KR` or `JP-TK`. */
  zone: string;
}

/** What a spoke reports about itself. */
export interface ClusterStatus {
  ready: boolean;
  /** Why it is not ready. */
  message?: string;
  /** Total allocatable resources. */
  allocatable: Resources;
  /** Resources held by workloads CASPIAN does not manage; CASPIAN's own Jobs are not counted here. */
  foreignUsage: Resources;
}
