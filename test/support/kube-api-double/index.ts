export { DOUBLE_CLUSTERS, kubeconfigFor, startDoubleClusters, writeKubeconfig, type DoubleCluster, type DoubleClusters } from './clusters.js';
export { jobStatuses, timestamp, type NodeSpec, type PodSpec } from './objects.js';
export { KubeApiDouble, type Fault, type RecordedRequest } from './server.js';
