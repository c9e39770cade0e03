import type { Metrics } from '../../src/metrics/metrics.js';

/** Parses the `{a="x",b="y"}` part of an exposition line. */
function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of (text ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1] as string] = match[2] as string;
  return labels;
}

/**
 * Every sample of a metric as Prometheus exposes it (after collect callbacks ran). `name` may also be a
 * histogram's `_count`, `_sum` or `_bucket` series.
 */
export async function metricSamples(metrics: Metrics, name: string): Promise<{ name: string; labels: Record<string, string>; value: number }[]> {
  const metricName = metrics.registry.getSingleMetric(name) ? name : name.replace(/_(count|sum|bucket)$/, '');
  const text = await metrics.registry.getSingleMetricAsString(metricName);
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match && (match[1] === name || metricName === name)) samples.push({ name: match[1] as string, labels: parseLabels(match[2]), value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample of `name` with exactly these labels; undefined when there is none. */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const wanted = Object.entries(labels);
  const sample = (await metricSamples(metrics, name)).find(
    (s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v),
  );
  return sample?.value;
}
