import { ApiException } from '@kubernetes/client-node';
import { AdapterError, errorMessage, QuotaExceededError } from '../domain/errors.js';

/** How a call that met a transient failure (network, timeout, 5xx, 429) is repeated before it gives up. */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  maxAttempts: number;
  /** Wait before the second try; doubled before each further one. */
  baseDelayMs: number;
  /** No wait is longer, not even one a 429's Retry-After asks for. */
  maxDelayMs: number;
}

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `Status` object the API server sends with every error. */
interface KubeStatus {
  message?: string;
  reason?: string;
  code?: number;
}

interface Failure {
  transient: boolean;
  /** A 403 from the ResourceQuota admission plugin: the namespace has no room left for now. */
  quota?: boolean;
  /** HTTP status code when the API server answered. */
  code?: number;
  detail: string;
  retryAfterMs?: number;
}

function statusOf(body: unknown): KubeStatus | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return parsed && typeof parsed === 'object' ? (parsed as KubeStatus) : undefined;
}

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  const seconds = Number(headers?.['retry-after']);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function describe(error: unknown, requestTimeoutMs: number): Failure {
  if (error instanceof ApiException) {
    const code = error.code;
    const status = statusOf(error.body);
    // client-node drops the body of a 401; the status line says all there is.
    const label = [code, status?.reason ?? (code === 401 ? 'Unauthorized' : undefined)].filter((part) => part !== undefined).join(' ');
    const detail = status?.message ? `${status.message} (${label})` : label;
    // ResourceQuota admission: `exceeded quota`, or `status unknown for quota` while its controller has not
    // counted a new or changed quota yet; both clear without anyone's help.
    const quota = code === 403 && /\b(exceeded quota|status unknown for quota)\b/.test(status?.message ?? '');
    return { transient: code === 429 || code >= 500, quota, code, detail, retryAfterMs: retryAfterMs(error.headers) };
  }
  if (error instanceof Error && error.name === 'AbortError') return { transient: true, detail: `no answer within ${requestTimeoutMs} ms` };
  // Anything else is the network (refused, reset, DNS, TLS) or an answer that is not the API's: the cluster may answer later.
  return { transient: true, detail: errorMessage(error) };
}

export interface CallSettings {
  retry: RetryPolicy;
  sleep: Sleep;
  /** Only for the message: the request itself carries its deadline. */
  requestTimeoutMs: number;
  /** No more tries once the client is closing. */
  isClosed: () => boolean;
}

/**
 * Runs one API call with retries. Resolves with its result, or with undefined when the API answered with
 * the `tolerated` status code (404 for "already gone", 409 for "already exists"). Transient failures are
 * retried with capped exponential backoff, then reported as a retryable AdapterError; a namespace quota
 * used up at once as a QuotaExceededError (retryable); refusals (other 4xx) at once as a non-retryable one
 * carrying the API's message.
 */
export function callKube<T>(what: string, send: () => Promise<T>, settings: CallSettings): Promise<T>;
export function callKube<T>(what: string, send: () => Promise<T>, settings: CallSettings, ...tolerated: [number, ...number[]]): Promise<T | undefined>;
export async function callKube<T>(what: string, send: () => Promise<T>, settings: CallSettings, ...tolerated: number[]): Promise<T | undefined> {
  const { retry } = settings;
  for (let attempt = 1; ; attempt++) {
    let failure: Failure;
    try {
      return await send();
    } catch (error) {
      failure = describe(error, settings.requestTimeoutMs);
      if (failure.code !== undefined && tolerated.includes(failure.code)) return undefined;
      // Room comes back when Jobs finish, not within a few retries' backoff: the caller asks again later.
      if (failure.quota) throw new QuotaExceededError(`${what}: ${failure.detail}`, { cause: error });
      if (!failure.transient) throw new AdapterError(`${what}: ${failure.detail}`, false, { cause: error });
      if (attempt >= retry.maxAttempts || settings.isClosed()) {
        throw new AdapterError(`${what} failed ${attempt} time${attempt === 1 ? '' : 's'}: ${failure.detail}`, true, { cause: error });
      }
    }
    const backoff = retry.baseDelayMs * 2 ** (attempt - 1);
    await settings.sleep(Math.min(retry.maxDelayMs, Math.max(backoff, failure.retryAfterMs ?? 0)));
  }
}
