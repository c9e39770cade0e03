/** Errors with a meaning the API maps to an HTTP status; anything else is a 500. */
export class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `affinity_regions.1`. */
  field: string;
  message: string;
}

export class ValidationError extends DomainError {
  constructor(
    message: string,
    readonly details: FieldIssue[],
  ) {
    super(message);
  }
}

export class NotFoundError extends DomainError {}

/** The request conflicts with what exists: a duplicate id, or a move its current phase forbids. */
export class ConflictError extends DomainError {}

/** The store refuses every change until the hub restarts (a failed commit left memory ahead of the disk). */
export class StoreUnavailableError extends DomainError {}

/** The hub is shutting down: it starts no new cycle (the one running finishes). */
export class HubStoppingError extends DomainError {}

/** An adapter failed; `retryable` says whether the same call may succeed later. */
export class AdapterError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The cluster answered and refuses the call for now: its namespace's quota is used up (a ResourceQuota on
 * the number of Jobs). Retryable, but the cluster itself is up: the call waits for room, the cluster is
 * not taken out of the plan.
 */
export class QuotaExceededError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options);
  }
}

/**
 * A create met a Job of the same name that the cluster is deleting (a finalizer holds it). Retryable, and the
 * cluster is up: the create waits until that Job is gone, as it waits for quota.
 */
export class JobBeingDeletedError extends AdapterError {
  constructor(message: string) {
    super(message, true);
  }
}

/**
 * A create met a Job of this job's name and id made before the job was submitted: an earlier job with the same
 * id left it (finished, kept until its TTL), forgotten by the hub since. It is never this job's Job: it is
 * deleted, and this job's made once it is gone.
 */
export class LeftoverJobError extends AdapterError {
  constructor(message: string) {
    super(message, false);
  }
}

/** The message of anything thrown: an Error's message, else the value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
