/**
 * The API server's wire documents, field by field as kube-apiserver 1.32 sends them: discovery, `Status`
 * errors and lists. Only what the double serves is here.
 */

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.2',
  gitCommit: '67a30c0adcf52bd3f56ff0893ce19966be12991f',
  gitTreeState: 'clean',
  buildDate: '2025-02-12T21:19:47Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export const API_GROUP_LIST = {
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [{ name: 'batch', versions: [{ groupVersion: 'batch/v1', version: 'v1' }], preferredVersion: { groupVersion: 'batch/v1', version: 'v1' } }],
};

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const CORE_V1_RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'], storageVersionHash: 'Q3oi5N2YM8M=' },
    { name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', verbs: ALL_VERBS, shortNames: ['no'], storageVersionHash: 'XwShjMxG9Fs=' },
    { name: 'nodes/status', singularName: '', namespaced: false, kind: 'Node', verbs: ['get', 'patch', 'update'] },
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ALL_VERBS, shortNames: ['po'], categories: ['all'], storageVersionHash: 'xPOwRZ+Yhw8=' },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] },
  ],
};

export const BATCH_V1_RESOURCES = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'batch/v1',
  resources: [
    { name: 'cronjobs', singularName: 'cronjob', namespaced: true, kind: 'CronJob', verbs: ALL_VERBS, shortNames: ['cj'], categories: ['all'], storageVersionHash: 'sd5LIXh4Fjs=' },
    { name: 'cronjobs/status', singularName: '', namespaced: true, kind: 'CronJob', verbs: ['get', 'patch', 'update'] },
    { name: 'jobs', singularName: 'job', namespaced: true, kind: 'Job', verbs: ALL_VERBS, categories: ['all'], storageVersionHash: 'mudhfqk/qZY=' },
    { name: 'jobs/status', singularName: '', namespaced: true, kind: 'Job', verbs: ['get', 'patch', 'update'] },
  ],
};

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A `v1 Status`; `code` is also the HTTP status of the answer that carries it (200 when absent). */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  /** Absent on a success, as the API server leaves it out. */
  code?: number;
}

export function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** The resource as error messages name it: `jobs.batch`, or `pods` for the core group. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const statuses = {
  notFound: (resource: string, group: string, name: string) => failure(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group, kind: resource }),
  /** apiserver's `NewConflict`: an update or a delete whose preconditions the stored object no longer meets. */
  conflict: (resource: string, group: string, name: string, why: string) =>
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, { name, group, kind: resource }),
  alreadyExists: (resource: string, group: string, name: string) => failure(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group, kind: resource }),
  /** `Job.batch "x" is invalid: <field>: <message>` with one cause per field. */
  invalid: (kind: string, group: string, name: string, causes: StatusCause[]) =>
    failure(422, 'Invalid', `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { name, group, kind, causes }),
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  /** kube-apiserver's answer to a `continue` token whose resource version etcd has compacted away. */
  expired: () =>
    failure(
      410,
      'Expired',
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    ),
  /** The double decodes JSON only; kube-apiserver would also take YAML and protobuf. */
  unsupportedMediaType: (contentType: string | undefined) => failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json (got ${contentType ?? 'none'})`),
  unauthorized: () => failure(401, 'Unauthorized', 'Unauthorized'),
  /** The ResourceQuota admission plugin's refusal while the quota controller has not counted a quota yet. */
  quotaNotCounted: (resource: string, group: string, name: string, quota: { name: string; key: string }) =>
    failure(403, 'Forbidden', `${qualified(resource, group)} "${name}" is forbidden: status unknown for quota: ${quota.name}, resources: ${quota.key}`, { name, group, kind: resource }),
  /** The ResourceQuota admission plugin's refusal of an object its namespace has no room left for. */
  exceededQuota: (resource: string, group: string, name: string, quota: { name: string; key: string; used: number; limited: number }) =>
    failure(
      403,
      'Forbidden',
      `${qualified(resource, group)} "${name}" is forbidden: exceeded quota: ${quota.name}, requested: ${quota.key}=1, used: ${quota.key}=${quota.used}, limited: ${quota.key}=${quota.limited}`,
      { name, group, kind: resource },
    ),
  methodNotAllowed: () => failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
  notFoundPath: () => failure(404, 'NotFound', 'the server could not find the requested resource'),
  /** The generic error for an injected fault of a given code. */
  forCode: (code: number): Status => {
    switch (code) {
      case 429:
        return failure(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: 1 });
      case 500:
        return failure(500, 'InternalError', 'Internal error occurred: etcdserver: request timed out', { causes: [{ reason: '', message: 'etcdserver: request timed out' }] });
      case 503:
        return failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      case 504:
        return failure(504, 'Timeout', 'Timeout: request did not complete within the allotted timeout');
      case 403:
        return failure(403, 'Forbidden', 'jobs.batch is forbidden: User "system:serviceaccount:default:caspian" cannot create resource "jobs" in API group "batch" in the namespace "default"', { group: 'batch', kind: 'jobs' });
      default:
        return failure(code, 'Unknown', `the server responded with the status code ${code} but did not return more information`);
    }
  },
  deleted: (resource: string, group: string, name: string, uid: string): Status => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name, group, kind: resource, uid },
  }),
};
