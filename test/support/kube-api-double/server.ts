import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { defaultJob, nodeObject, podObject, podOwner, Refusal, timestamp, validateJob, wireCopy, type Json, type NodeSpec, type PodSpec } from './objects.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { servingCert } from './tls.js';
import { API_GROUP_LIST, apiVersions, BATCH_V1_RESOURCES, CORE_V1_RESOURCES, SERVER_VERSION, statuses, type Status } from './wire.js';

/** What a fault does to the requests it matches. */
export type Fault =
  /** Answer with this HTTP status and the Status body the API server sends for it. */
  | { kind: 'status'; code: number }
  /** Read the request and never answer: only the client's timeout ends it. */
  | { kind: 'stall' }
  /** Drop the connection without an answer, as a crashed or restarting API server does. */
  | { kind: 'reset' };

export interface FaultRule {
  fault: Fault;
  /** How many matching requests it hits; Infinity until cleared. */
  times: number;
  method?: string;
  /** Matched against the URL path. */
  path?: RegExp;
  /** Only every `every`-th matching request is hit, the others answered (a flapping API). */
  every?: number;
  /** The first `after` matching requests are answered, the rule hits from the next on. */
  after?: number;
  seen: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  /** What the double answered; undefined for a stall or a reset. */
  status?: number;
  fault?: Fault['kind'];
  /** For a delete: the propagation policy the API server applies (the DeleteOptions body's if there is one, else the query's). */
  propagationPolicy?: string;
  contentType?: string;
}

/** Paths any client may read, as the `system:public-info-viewer` role allows. */
const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

const JOB_FIELDS = ['metadata.name', 'metadata.namespace'];
const POD_FIELDS = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase'];
const NODE_FIELDS = ['metadata.name', 'spec.unschedulable'];

/**
 * A Kubernetes API server double: HTTPS with a self-signed certificate, bearer-token authentication, the
 * discovery documents, `batch/v1` Jobs (create, get, list with label and field selectors, delete), `v1`
 * nodes and pods (list), and the real `Status` bodies for its errors. Tests drive it: add nodes and pods,
 * set a Job's status as the job controller would, inject faults, and read back every request it served.
 */
export class KubeApiDouble {
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly jobs = new Map<string, Json>();
  private readonly nodes = new Map<string, Json>();
  private readonly pods = new Map<string, Json>();
  private readonly namespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  /** Per namespace, a ResourceQuota on `count/jobs.batch`: its name, hard limit, and whether its controller counted it yet. */
  private readonly jobQuotas = new Map<string, { name: string; limited: number; counted: boolean }>();
  private faults: FaultRule[] = [];
  private revision = 1000;
  /** Continue tokens of lists begun before this revision are expired (see `compact`). */
  private compactedRevision = 0;
  private compactAfterNextList = false;
  private port = 0;

  constructor(private readonly options: { name: string; token?: string; now?: () => number }) {
    this.token = options.token ?? `${options.name}-${randomUUID()}`;
    const { cert, key } = servingCert();
    this.server = createServer({ cert, key }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.send(res, 500, statuses.forCode(500));
        console.error(`kube-api-double ${this.options.name}:`, error);
      });
    });
  }

  /** Starts listening on a free port of 127.0.0.1. */
  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get caPem(): string {
    return servingCert().cert;
  }

  async close(): Promise<void> {
    // Stalled requests hold their sockets open; a real server going away drops them too.
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- faults ---

  /** Injects a fault for the matching requests; returns the rule so a test can lift it with `clearFaults`. */
  inject(fault: Fault, match: { times?: number; method?: string; path?: RegExp; every?: number; after?: number } = {}): FaultRule {
    const rule: FaultRule = { fault, times: match.times ?? Infinity, method: match.method, path: match.path, every: match.every, after: match.after, seen: 0 };
    this.faults.push(rule);
    return rule;
  }

  /** The next `times` matching requests get `code` with its Status body. */
  fail(code: number, match: { times?: number; method?: string; path?: RegExp; after?: number } = {}): FaultRule {
    return this.inject({ kind: 'status', code }, { times: 1, ...match });
  }

  stall(match: { times?: number; method?: string; path?: RegExp } = {}): FaultRule {
    return this.inject({ kind: 'stall' }, { times: 1, ...match });
  }

  /** Every request drops its connection until `up()`. */
  down(): FaultRule {
    return this.inject({ kind: 'reset' });
  }

  /** Every other request fails with `code` until `up()`. */
  flap(code = 503): FaultRule {
    return this.inject({ kind: 'status', code }, { every: 2 });
  }

  /** Lifts every fault. */
  up(): void {
    this.faults = [];
  }

  private faultFor(method: string, path: string): Fault | undefined {
    for (const rule of this.faults) {
      if (rule.times <= 0) continue;
      if (rule.method && rule.method !== method) continue;
      if (rule.path && !rule.path.test(path)) continue;
      rule.seen++;
      if (rule.after !== undefined && rule.seen <= rule.after) continue;
      if (rule.every && (rule.seen - 1) % rule.every !== 0) continue;
      rule.times--;
      return rule.fault;
    }
    return undefined;
  }

  // --- state ---

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private nextVersion(): string {
    this.revision += 1;
    return String(this.revision);
  }

  addNamespace(name: string): void {
    this.namespaces.add(name);
  }

  /**
   * A ResourceQuota `name` with `hard: {count/jobs.batch: limited}` in the namespace. `counted: false`: the
   * quota controller has not written its `status.used` yet (a new or changed quota), and admission refuses
   * every create until it has.
   */
  setJobCountQuota(name: string, limited: number, namespace = 'default', { counted = true } = {}): void {
    this.jobQuotas.set(namespace, { name, limited, counted });
  }

  addNode(spec: NodeSpec): void {
    this.nodes.set(spec.name, nodeObject(spec, { uid: randomUUID(), resourceVersion: this.nextVersion(), now: this.now() }));
  }

  addPod(spec: PodSpec): void {
    const job = spec.job === undefined ? undefined : this.jobs.get(`${spec.namespace}/${spec.job}`);
    if (spec.job !== undefined && !job) throw new Error(`no Job ${spec.namespace}/${spec.job} to own pod ${spec.name}`);
    const owner = job && podOwner(job);
    this.pods.set(`${spec.namespace}/${spec.name}`, podObject(spec, { uid: randomUUID(), resourceVersion: this.nextVersion(), now: this.now(), owner }));
  }

  /** A stored Job as the API would return it, or undefined. */
  job(name: string, namespace = 'default'): Json | undefined {
    const job = this.jobs.get(`${namespace}/${name}`);
    return job && wireCopy(job);
  }

  podNames(namespace = 'default'): string[] {
    return [...this.pods.keys()].filter((k) => k.startsWith(`${namespace}/`)).map((k) => k.slice(namespace.length + 1));
  }

  jobNames(namespace = 'default'): string[] {
    return [...this.jobs.keys()].filter((k) => k.startsWith(`${namespace}/`)).map((k) => k.slice(namespace.length + 1));
  }

  /** Stores a Job directly, as if someone else had created it (`kubectl`, another controller). */
  putJob(job: Json, namespace = 'default'): Json {
    const name = String((job.metadata as Json | undefined)?.name);
    const stored = wireCopy(defaultJob(job, { name, namespace, uid: randomUUID(), resourceVersion: this.nextVersion(), now: this.now() }));
    this.jobs.set(`${namespace}/${name}`, stored);
    return stored;
  }

  /** Removes a Job, as the TTL-after-finished controller does once `ttlSecondsAfterFinished` has passed. */
  removeJob(name: string, namespace = 'default'): void {
    if (!this.jobs.delete(`${namespace}/${name}`)) throw new Error(`no Job ${namespace}/${name} on ${this.options.name}`);
  }

  /**
   * Adds a finalizer to a stored Job, as a controller that must clean up first does: a delete then only marks
   * the Job (`deletionTimestamp`) until `releaseFinalizers`.
   */
  addFinalizer(name: string, finalizer: string, namespace = 'default'): void {
    const metadata = this.storedJob(name, namespace).metadata as Json;
    metadata.finalizers = [...((metadata.finalizers as string[] | undefined) ?? []), finalizer];
    metadata.resourceVersion = this.nextVersion();
  }

  /** Removes a Job's finalizers, as their controllers do once done: a Job marked for deletion is then gone. */
  releaseFinalizers(name: string, namespace = 'default'): void {
    const metadata = this.storedJob(name, namespace).metadata as Json;
    delete metadata.finalizers;
    if (metadata.deletionTimestamp !== undefined) this.jobs.delete(`${namespace}/${name}`);
    else metadata.resourceVersion = this.nextVersion();
  }

  private storedJob(name: string, namespace: string): Json {
    const job = this.jobs.get(`${namespace}/${name}`);
    if (!job) throw new Error(`no Job ${namespace}/${name} on ${this.options.name}`);
    return job;
  }

  /** Replaces a Job's status, as the job controller's status updates do. */
  setJobStatus(name: string, status: Json, namespace = 'default'): void {
    const job = this.storedJob(name, namespace);
    job.status = wireCopy(status);
    (job.metadata as Json).resourceVersion = this.nextVersion();
  }

  /** The create requests that reached the store: a test's count of Jobs CASPIAN tried to make. */
  creates(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.status === 201);
  }

  // --- HTTP ---

  private send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'Audit-Id': randomUUID(),
      'Cache-Control': 'no-cache, private',
      'Content-Type': 'application/json',
      'X-Kubernetes-Pf-Flowschema-Uid': '2c4a6c3e-9d8b-4f0e-8e7f-6a5b4c3d2e1f',
      'X-Kubernetes-Pf-Prioritylevel-Uid': '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918',
      'Content-Length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  }

  private sendStatus(res: ServerResponse, status: Status, record: RecordedRequest): void {
    const code = status.code ?? 200;
    record.status = code;
    const headers: Record<string, string> = status.details?.retryAfterSeconds !== undefined ? { 'Retry-After': String(status.details.retryAfterSeconds) } : {};
    this.send(res, code, status, headers);
  }

  private sendObject(res: ServerResponse, code: number, body: unknown, record: RecordedRequest): void {
    record.status = code;
    this.send(res, code, body);
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://double');
    const method = req.method ?? 'GET';
    const text = await this.readBody(req);
    const record: RecordedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), contentType: req.headers['content-type'] };
    this.requests.push(record);
    // The double speaks JSON only: a protobuf body (kubectl's typed clients send one) is left undecoded and refused.
    if (text && !record.contentType?.includes('protobuf')) {
      try {
        record.body = JSON.parse(text);
      } catch {
        record.body = text;
      }
    }

    const fault = this.faultFor(method, url.pathname);
    if (fault) {
      record.fault = fault.kind;
      if (fault.kind === 'reset') req.socket.destroy();
      else if (fault.kind === 'status') this.sendStatus(res, statuses.forCode(fault.code), record);
      return;
    }

    if (!PUBLIC_PATHS.has(url.pathname) && req.headers.authorization !== `Bearer ${this.token}`) {
      this.sendStatus(res, statuses.unauthorized(), record);
      return;
    }

    try {
      this.route(method, url, record, res);
    } catch (error) {
      if (error instanceof Refusal) this.sendStatus(res, error.status, record);
      else if (error instanceof SelectorError) this.sendStatus(res, statuses.badRequest(error.message), record);
      else throw error;
    }
  }

  private route(method: string, url: URL, record: RecordedRequest, res: ServerResponse): void {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const get = method === 'GET';
    if (get && path === '/version') return this.sendObject(res, 200, SERVER_VERSION, record);
    if (get && ['/healthz', '/livez', '/readyz'].includes(path)) {
      record.status = 200;
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    if (get && path === '/api') return this.sendObject(res, 200, apiVersions(`127.0.0.1:${this.port}`), record);
    if (get && path === '/apis') return this.sendObject(res, 200, API_GROUP_LIST, record);
    if (get && path === '/api/v1') return this.sendObject(res, 200, CORE_V1_RESOURCES, record);
    if (get && path === '/apis/batch/v1') return this.sendObject(res, 200, BATCH_V1_RESOURCES, record);

    if (path === '/api/v1/nodes') return get ? this.list(res, record, url, 'NodeList', 'v1', [...this.nodes.values()], NODE_FIELDS) : this.sendStatus(res, statuses.methodNotAllowed(), record);
    if (path === '/api/v1/pods') return get ? this.list(res, record, url, 'PodList', 'v1', [...this.pods.values()], POD_FIELDS) : this.sendStatus(res, statuses.methodNotAllowed(), record);
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (m && get) return this.list(res, record, url, 'PodList', 'v1', [...this.pods.values()].filter((p) => (p.metadata as Json).namespace === m?.[1]), POD_FIELDS);
    if (path === '/apis/batch/v1/jobs' && get) return this.list(res, record, url, 'JobList', 'batch/v1', [...this.jobs.values()], JOB_FIELDS);

    m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(path);
    if (m) {
      const namespace = m[1] ?? '';
      const name = m[2];
      if (name === undefined && get) return this.list(res, record, url, 'JobList', 'batch/v1', [...this.jobs.values()].filter((j) => (j.metadata as Json).namespace === namespace), JOB_FIELDS);
      if (name === undefined && method === 'POST') return this.createJob(res, record, namespace);
      if (name !== undefined && get) {
        const job = this.jobs.get(`${namespace}/${name}`);
        return job ? this.sendObject(res, 200, job, record) : this.sendStatus(res, statuses.notFound('jobs', 'batch', name), record);
      }
      if (name !== undefined && method === 'DELETE') return this.deleteJob(res, record, namespace, name, url);
      return this.sendStatus(res, statuses.methodNotAllowed(), record);
    }
    this.sendStatus(res, statuses.notFoundPath(), record);
  }

  /**
   * A list, in etcd key order (namespace/name) as kube-apiserver answers it, in chunks when the request
   * has `limit`: each chunk carries `metadata.continue` while items remain (and `remainingItemCount` when
   * there is no selector), and a `continue` token from before `compact()` answers 410 Expired.
   */
  private list(res: ServerResponse, record: RecordedRequest, url: URL, kind: string, apiVersion: string, items: Json[], fields: readonly string[]): void {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const matchesFields = parseFieldSelector(url.searchParams.get('fieldSelector'), fields);
    const keyOf = (item: Json) => {
      const metadata = item.metadata as Json;
      return metadata.namespace ? `${String(metadata.namespace)}/${String(metadata.name)}` : String(metadata.name);
    };
    const token = url.searchParams.get('continue');
    const from = token ? this.continueFrom(token) : { rv: this.revision, start: '' };
    const selected = items
      .filter((item) => labels(((item.metadata as Json).labels ?? {}) as Record<string, string>) && matchesFields(item))
      .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
      .filter((item) => keyOf(item) >= from.start);
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const chunk = limit > 0 ? selected.slice(0, limit) : selected;
    const remaining = selected.length - chunk.length;
    const metadata: Json = { resourceVersion: String(from.rv) };
    if (remaining > 0) {
      const start = `${keyOf(chunk[chunk.length - 1]!)}\u0000`;
      metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: from.rv, start })).toString('base64');
      if (!url.searchParams.has('labelSelector') && !url.searchParams.has('fieldSelector')) metadata.remainingItemCount = remaining;
    }
    // List items carry no kind or apiVersion on the wire: the list's own say what they are.
    const bare = chunk.map(({ kind: _kind, apiVersion: _apiVersion, ...rest }) => rest);
    this.sendObject(res, 200, { kind, apiVersion, metadata, items: bare }, record);
    if (this.compactAfterNextList) {
      this.compactAfterNextList = false;
      this.compact();
    }
  }

  /** Decodes a continue token; refuses one that is not ours (400) or older than the last compaction (410). */
  private continueFrom(token: string): { rv: number; start: string } {
    let decoded: { v?: unknown; rv?: unknown; start?: unknown };
    try {
      decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as typeof decoded;
    } catch {
      throw new Refusal(statuses.badRequest(`continue key is not valid: illegal base64 data at input byte 0`));
    }
    if (decoded.v !== 'meta.k8s.io/v1' || typeof decoded.rv !== 'number' || typeof decoded.start !== 'string') {
      throw new Refusal(statuses.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)'));
    }
    if (decoded.rv < this.compactedRevision) throw new Refusal(statuses.expired());
    return { rv: decoded.rv, start: decoded.start };
  }

  /** etcd compacts its history: list chunks begun before now can no longer be continued. */
  compact(): void {
    this.compactedRevision = this.revision + 1;
  }

  /** Compacts right after answering the next list request (to expire a list in the middle of its chunks). */
  compactAfterNextListChunk(): void {
    this.compactAfterNextList = true;
  }

  private createJob(res: ServerResponse, record: RecordedRequest, namespace: string): void {
    const body = record.body;
    if (!body || typeof body !== 'object') throw new Refusal(statuses.unsupportedMediaType(record.contentType));
    const job = body as Json;
    if (job.kind !== 'Job' || job.apiVersion !== 'batch/v1') throw new Refusal(statuses.badRequest(`Job in version "v1" cannot be handled as a Job: the object provided is unrecognized (must be of type Job)`));
    const metadata = (job.metadata ?? {}) as Json;
    if (metadata.namespace !== undefined && metadata.namespace !== namespace) throw new Refusal(statuses.badRequest('the namespace of the provided object does not match the namespace sent on the request'));
    const generateName = typeof metadata.generateName === 'string' ? metadata.generateName : undefined;
    const name = typeof metadata.name === 'string' && metadata.name ? metadata.name : generateName ? `${generateName}${randomUUID().slice(0, 5)}` : '';
    if (!name) throw new Refusal(statuses.invalid('Job', 'batch', '', [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }]));
    if (!this.namespaces.has(namespace)) throw new Refusal({ ...statuses.notFound('namespaces', '', namespace) });
    // As kube-apiserver's Store.create: validation (422), then admission with ResourceQuota (403), then
    // storage, which is what finds the name taken (409).
    validateJob(job, name);
    const quota = this.jobQuotas.get(namespace);
    const used = this.jobNames(namespace).length;
    if (quota && !quota.counted) throw new Refusal(statuses.quotaNotCounted('jobs', 'batch', name, { name: quota.name, key: 'count/jobs.batch' }));
    if (quota && used + 1 > quota.limited) throw new Refusal(statuses.exceededQuota('jobs', 'batch', name, { name: quota.name, key: 'count/jobs.batch', used, limited: quota.limited }));
    if (this.jobs.has(`${namespace}/${name}`)) throw new Refusal(statuses.alreadyExists('jobs', 'batch', name));
    const stored = wireCopy(defaultJob(job, { name, namespace, uid: randomUUID(), resourceVersion: this.nextVersion(), now: this.now() }));
    if (record.query.dryRun !== 'All') this.jobs.set(`${namespace}/${name}`, stored);
    this.sendObject(res, 201, stored, record);
  }

  private deleteJob(res: ServerResponse, record: RecordedRequest, namespace: string, name: string, url: URL): void {
    const job = this.jobs.get(`${namespace}/${name}`);
    if (!job) throw new Refusal(statuses.notFound('jobs', 'batch', name));
    // As kube-apiserver (handlers/delete.go): DeleteOptions come from the body when there is one, from the query only
    // otherwise; a query policy beside a body is not read.
    const hasBody = record.body !== undefined;
    const options = (hasBody && typeof record.body === 'object' && record.body !== null ? record.body : {}) as Json;
    const policy = hasBody ? (typeof options.propagationPolicy === 'string' ? options.propagationPolicy : undefined) : (url.searchParams.get('propagationPolicy') ?? undefined);
    if (policy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw new Refusal(statuses.invalid('DeleteOptions', '', '', [{ reason: 'FieldValueNotSupported', message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`, field: 'propagationPolicy' }]));
    }
    record.propagationPolicy = policy;
    const preconditions = (typeof options.preconditions === 'object' && options.preconditions !== null ? options.preconditions : {}) as Json;
    const uid = String((job.metadata as Json).uid);
    if (typeof preconditions.uid === 'string' && preconditions.uid !== uid) {
      throw new Refusal(statuses.conflict('jobs', 'batch', name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${uid}`));
    }
    // A Job with finalizers is only marked, and the API answers with the object (a repeated delete too);
    // without, there is no garbage collector here: it goes at once whatever the policy.
    const metadata = job.metadata as Json;
    if (Array.isArray(metadata.finalizers) && metadata.finalizers.length > 0) {
      if (metadata.deletionTimestamp === undefined) {
        metadata.deletionTimestamp = timestamp(this.now());
        metadata.deletionGracePeriodSeconds = 0;
        metadata.resourceVersion = this.nextVersion();
      }
      this.sendObject(res, 200, wireCopy(job), record);
      return;
    }
    this.jobs.delete(`${namespace}/${name}`);
    this.collectPods(uid, policy);
    this.sendStatus(res, statuses.deleted('jobs', 'batch', name, uid), record);
  }

  /**
   * The garbage collector on a deleted Job's pods: Background or Foreground deletes them; Orphan, or no policy (a
   * batch/v1 Job's default, kept for backwards compatibility), leaves them running, their owner reference gone.
   */
  private collectPods(jobUid: string, policy: string | undefined): void {
    for (const [key, pod] of this.pods) {
      const metadata = pod.metadata as Json;
      const owners = (metadata.ownerReferences ?? []) as Json[];
      if (!owners.some((o) => o.uid === jobUid)) continue;
      if (policy === 'Background' || policy === 'Foreground') this.pods.delete(key);
      else metadata.ownerReferences = owners.filter((o) => o.uid !== jobUid);
    }
  }
}
