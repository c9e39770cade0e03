/**
 * What Kubernetes accepts as names and label parts (apimachinery's validation), checked where the hub takes
 * them in, so that a bad one stops start-up or a request instead of failing every Job that carries it.
 */

/** A DNS-1123 label: a namespace, a cluster or Job name, at most 63 characters. */
export const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The name part of a label key, and a non-empty label value: at most 63 characters. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A DNS-1123 subdomain (a label key's prefix, such as `node.kubernetes.io`): at most 253 characters. */
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A label key: `[prefix/]name`. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  if (slash < 0) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && DNS_1123_SUBDOMAIN.test(prefix) && LABEL_NAME.test(key.slice(slash + 1));
}

/** A label value: empty, or a label name. */
export function isLabelValue(value: string): boolean {
  return value === '' || LABEL_NAME.test(value);
}

/** Kubernetes' integer fields such as `ttlSecondsAfterFinished` are int32. */
export const INT32_MAX = 2 ** 31 - 1;

/** Visible ASCII, no white space: what Kubernetes takes in an image reference, and what a bearer token may hold. */
export const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** A container image reference, wherever one is given (a submission, the configured default). */
export const IMAGE_REFERENCE = { pattern: VISIBLE_ASCII, maxLength: 512, message: 'must be an image reference: visible ASCII, no white space' } as const;
