/**
 * Label selectors (equality- and set-based, as `labels.Parse` in apimachinery reads them) and the field
 * selectors the double needs (`=`, `==`, `!=` on dotted paths such as `status.phase`).
 */

type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type Selector = (labels: Readonly<Record<string, string>>) => boolean;

/** Splits on the commas that separate requirements, not those inside `in (a,b)`. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY = String.raw`[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;

function parseRequirement(text: string): Requirement {
  let m = new RegExp(`^(${KEY})\\s+(in|notin)\\s+\\(([^)]*)\\)$`).exec(text);
  if (m) {
    const values = (m[4] ?? '').split(',').map((v) => v.trim());
    if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v))) throw new SelectorError(`invalid label value in "${text}"`);
    return { key: m[1] ?? '', op: m[3] as 'in' | 'notin', values };
  }
  m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`).exec(text);
  if (m) {
    const value = m[4] ?? '';
    return { key: m[1] ?? '', op: m[3] === '!=' ? 'notin' : 'in', values: [value] };
  }
  m = new RegExp(`^(!?)\\s*(${KEY})$`).exec(text);
  if (m) return { key: m[2] ?? '', op: m[1] ? '!exists' : 'exists' };
  throw new SelectorError(`unable to parse requirement: found '${text}', expected: in, notin, =, ==, !=, gt, lt`);
}

export class SelectorError extends Error {}

export function parseLabelSelector(text: string | null): Selector {
  const requirements = splitTopLevel(text ?? '').map(parseRequirement);
  return (labels) =>
    requirements.every((r) => {
      const has = Object.hasOwn(labels, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case '!exists':
          return !has;
        case 'in':
          return has && r.values.includes(labels[r.key] ?? '');
        case 'notin':
          return !has || !r.values.includes(labels[r.key] ?? '');
      }
    });
}

/** A field selector over an object; unknown fields are refused, as the API server refuses them per resource. */
export function parseFieldSelector(text: string | null, supported: readonly string[]): (object: unknown) => boolean {
  const terms = splitTopLevel(text ?? '').map((term) => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError(`invalid selector: '${term}'; can't understand '${term}'`);
    const [, path = '', op, value = ''] = m;
    if (!supported.includes(path)) throw new SelectorError(`field label not supported: ${path}`);
    return { path: path.split('.'), negate: op === '!=', value };
  });
  return (object) =>
    terms.every((t) => {
      const actual = t.path.reduce<unknown>((o, key) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined), object);
      return (String(actual ?? '') === t.value) !== t.negate;
    });
}
