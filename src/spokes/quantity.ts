/**
 * Kubernetes resource quantities (`500m`, `2`, `8Gi`, `8000Mi`, `8G`, `1e3`, plain bytes) to numbers, and
 * CASPIAN's sizes to quantities. Memory is counted in GiB on Kubernetes: a job's `mem_gb: 4` becomes
 * `4Gi`, and a node with `8Gi` allocatable offers `memGb: 8`, so requests and capacity use one unit.
 */

const SUFFIX_FACTORS: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

// The grammar of k8s.io/apimachinery/pkg/api/resource: a signed decimal, then a binary-SI, decimal-SI or exponent suffix.
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const BYTES_PER_GIB = 2 ** 30;
const MIB_PER_GIB = 1024;

/** The value of a quantity in base units (cores for cpu, bytes for memory, devices for GPUs). */
export function parseQuantity(quantity: string): number {
  const match = QUANTITY.exec(quantity.trim());
  if (!match) throw new RangeError(`"${quantity}" is not a Kubernetes quantity`);
  const [, digits = '', suffix = ''] = match;
  // A bare `E` is exa (10^18), as apimachinery reads the SI table first; only `E<n>` or `e<n>` is an exponent.
  const factor = /^[eE][+-]?\d+$/.test(suffix) ? 10 ** Number(suffix.slice(1)) : (SUFFIX_FACTORS[suffix] ?? 1);
  return Number(digits) * factor;
}

export function quantityToCores(quantity: string): number {
  return parseQuantity(quantity);
}

export function quantityToGib(quantity: string): number {
  return parseQuantity(quantity) / BYTES_PER_GIB;
}

/** Cores as millicores, rounded up: a request never shrinks on its way to the cluster, nor vanishes (1m at least). */
export function coresToQuantity(cores: number): string {
  const millicores = Math.ceil(Math.round(cores * 1e6) / 1e3);
  return `${cores > 0 ? Math.max(1, millicores) : millicores}m`;
}

/** GiB as `Gi` when whole, else `Mi` rounded up (1Mi at least when above zero). */
export function gibToQuantity(gib: number): string {
  const rounded = Math.ceil(Math.round(gib * MIB_PER_GIB * 1e3) / 1e3);
  const mib = gib > 0 ? Math.max(1, rounded) : rounded;
  return mib % MIB_PER_GIB === 0 ? `${mib / MIB_PER_GIB}Gi` : `${mib}Mi`;
}
