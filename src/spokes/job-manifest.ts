import type { V1Job } from '@kubernetes/client-node';
import type { SpokeJobRequest } from './types.js';
import { coresToQuantity, gibToQuantity } from './quantity.js';

/** Labels and annotations CASPIAN puts on its Jobs and their pods. */
export const LABEL_JOB_ID = 'caspian.io/job-id';
const LABEL_REGION = 'caspian.io/region';
export const LABEL_POOL = 'caspian.io/pool';
const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
const MANAGED_BY = 'caspian';
const LABEL_APP = 'app';
const APP = 'caspian-job';
const ANNOTATION_PLANNED_START = 'caspian.io/planned-start';
const ANNOTATION_CO2_ESTIMATE_G = 'caspian.io/co2-estimate-g';
const ANNOTATION_MIGRATED_FROM = 'caspian.io/migrated-from';
const ANNOTATION_GENERATION = 'caspian.io/generation';

/** Finds every Job CASPIAN created in a namespace, whatever hub instance created it. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

export interface JobManifestSettings {
  namespace: string;
  /** Pod failures before the Job fails. */
  backoffLimit: number;
  /** Seconds a finished Job stays readable before Kubernetes removes it: the hub must read its outcome first. */
  ttlSecondsAfterFinished: number;
}

const CONTAINER_NAME = 'job';

/** The extended resource of NVIDIA GPUs, and the taint key GPU node pools carry (GKE, and by convention elsewhere). */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The `batch/v1` Job that runs one AppWrapper generation on a spoke. */
export function jobManifest(request: SpokeJobRequest, settings: JobManifestSettings): V1Job {
  const labels = {
    [LABEL_JOB_ID]: request.jobId,
    [LABEL_REGION]: request.region,
    [LABEL_POOL]: request.pool,
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_APP]: APP,
  };
  const annotations: Record<string, string> = {
    [ANNOTATION_PLANNED_START]: new Date(request.plannedStartAt).toISOString(),
    [ANNOTATION_CO2_ESTIMATE_G]: String(Math.round(request.co2EstimateG * 1000) / 1000),
    [ANNOTATION_GENERATION]: String(request.generation),
  };
  if (request.migratedFrom) annotations[ANNOTATION_MIGRATED_FROM] = request.migratedFrom;

  // Requests equal limits: the optimizer packs jobs by their size, so a job must neither get less nor burst into more.
  const resources: Record<string, string> = { cpu: coresToQuantity(request.cpu) };
  if (request.memGb > 0) resources.memory = gibToQuantity(request.memGb);
  if (request.gpu > 0) resources[GPU_RESOURCE] = String(request.gpu);

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: request.jobName, namespace: settings.namespace, labels, annotations },
    spec: {
      backoffLimit: settings.backoffLimit,
      activeDeadlineSeconds: request.activeDeadlineSeconds,
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      template: {
        // The pods carry the labels too: that is how status() tells CASPIAN's pods from foreign ones.
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(Object.keys(request.nodeSelector).length > 0 && { nodeSelector: { ...request.nodeSelector } }),
          // GPU nodes are tainted so that only GPU pods land there; GKE's admission adds this toleration itself,
          // other clusters need it on the pod.
          ...(request.gpu > 0 && { tolerations: [{ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' }] }),
          containers: [
            {
              name: CONTAINER_NAME,
              image: request.image,
              command: request.command,
              env: [
                { name: 'CASPIAN_JOB_ID', value: request.jobId },
                { name: 'CASPIAN_RUNTIME_SECONDS', value: String(request.runtimeSeconds) },
              ],
              resources: { requests: resources, limits: { ...resources } },
            },
          ],
        },
      },
    },
  };
}
