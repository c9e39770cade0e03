/**
 * Immutable values: the store hands out frozen AppWrappers and the configuration is frozen, so that no
 * reader can change what others read. Plain data only (objects, arrays, primitives).
 */

/** Freezes the whole value in place, nested objects and arrays included. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * A deeply frozen copy, made in one pass: the caller's value stays the caller's (and unfrozen). Cheaper
 * than `structuredClone` followed by `deepFreeze` on the submission path.
 */
export function frozenCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return (value.length === 0 ? EMPTY_ARRAY : Object.freeze(value.map(frozenCopy))) as T;
  const keys = Object.keys(value);
  if (keys.length === 0) return EMPTY_OBJECT as T;
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = frozenCopy((value as Record<string, unknown>)[key]);
  return Object.freeze(out) as T;
}

// Frozen, so one of each serves every copy: a stored AppWrapper has several empty lists and maps (no
// affinity, no stale Jobs, no metadata), and each object the store keeps is one more for every GC to mark.
const EMPTY_ARRAY: readonly never[] = Object.freeze([]);
const EMPTY_OBJECT: Readonly<Record<string, never>> = Object.freeze({});
