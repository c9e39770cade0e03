/**
 * The entry of `record` under `key`, or undefined when the record has none of its own.
 *
 * The input's lookup tables (`prev_plan`, `network_costs`, `region_pools`) are JSON objects keyed by job and
 * region names, and a name may be any string: read by plain indexing, a job called `constructor` would find
 * `Object.prototype.constructor` as its previous plan. Every lookup in them goes through here, whether the
 * input was parsed or is raw JSON (`validatePlan` accepts both).
 */
export function ownEntry<V>(record: Readonly<Record<string, V>> | undefined, key: string): V | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
