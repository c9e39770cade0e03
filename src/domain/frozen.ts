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
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = frozenCopy((value as Record<string, unknown>)[key]);
  return Object.freeze(out) as T;
}
