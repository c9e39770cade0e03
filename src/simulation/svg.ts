/**
 * Small SVG charts for the benchmark's report, written as text (no browser, no library): a bar chart and a
 * line chart over time, with axes, "nice" ticks, a title and a legend.
 */

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length] as string;
}

/** Text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Ticks at 1, 2 or 5 x 10^k covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude) as number;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}

function formatTick(v: number): string {
  if (Math.abs(v) >= 1000) return v.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return String(Math.round(v * 1000) / 1000);
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function open(frame: Frame, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${frame.width}" height="${frame.height}" viewBox="0 0 ${frame.width} ${frame.height}">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    `<text x="${frame.width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${escapeXml(title)}</text>\n`
  );
}

function yAxis(frame: Frame, ticks: number[], y: (v: number) => number, label: string): string {
  let out = '';
  for (const t of ticks) {
    const py = y(t).toFixed(1);
    out += `<line x1="${frame.left}" x2="${frame.width - frame.right}" y1="${py}" y2="${py}" stroke="#e0e0e0"/>\n`;
    out += `<text x="${frame.left - 6}" y="${py}" dy="4" text-anchor="end" font-size="11" ${FONT}>${formatTick(t)}</text>\n`;
  }
  const midY = frame.top + (frame.height - frame.top - frame.bottom) / 2;
  out += `<text transform="translate(16 ${midY.toFixed(1)}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(label)}</text>\n`;
  out += `<line x1="${frame.left}" x2="${frame.left}" y1="${frame.top}" y2="${frame.height - frame.bottom}" stroke="#333"/>\n`;
  out += `<line x1="${frame.left}" x2="${frame.width - frame.right}" y1="${frame.height - frame.bottom}" y2="${frame.height - frame.bottom}" stroke="#333"/>\n`;
  return out;
}

export interface Bar {
  label: string;
  value: number;
  /** Drawn in the accent colour (e.g. the strategy the chart is about). */
  highlight?: boolean;
}

/** Vertical bars with their values above them; labels under the axis, slanted. */
export function barChart(options: { title: string; yLabel: string; bars: readonly Bar[]; width?: number; height?: number }): string {
  const frame: Frame = { width: options.width ?? 760, height: options.height ?? 420, left: 70, right: 20, top: 40, bottom: 110 };
  const max = Math.max(0, ...options.bars.map((b) => b.value));
  const ticks = niceTicks(0, max > 0 ? max : 1, 6);
  const top = Math.max(ticks[ticks.length - 1] as number, max);
  const plotH = frame.height - frame.top - frame.bottom;
  const plotW = frame.width - frame.left - frame.right;
  const y = (v: number) => frame.top + plotH - (v / top) * plotH;
  let svg = open(frame, options.title) + yAxis(frame, ticks, y, options.yLabel);
  const slot = plotW / Math.max(1, options.bars.length);
  options.bars.forEach((bar, i) => {
    const x = frame.left + i * slot + slot * 0.15;
    const w = slot * 0.7;
    const py = y(Math.max(0, bar.value));
    svg += `<rect x="${x.toFixed(1)}" y="${py.toFixed(1)}" width="${w.toFixed(1)}" height="${(frame.top + plotH - py).toFixed(1)}" fill="${bar.highlight ? '#e15759' : '#4e79a7'}"><title>${escapeXml(`${bar.label}: ${bar.value}`)}</title></rect>\n`;
    svg += `<text x="${(x + w / 2).toFixed(1)}" y="${(py - 4).toFixed(1)}" text-anchor="middle" font-size="11" ${FONT}>${formatTick(bar.value)}</text>\n`;
    const lx = x + w / 2;
    const ly = frame.height - frame.bottom + 14;
    svg += `<text transform="translate(${lx.toFixed(1)} ${ly}) rotate(-35)" text-anchor="end" font-size="12" ${FONT}>${escapeXml(bar.label)}</text>\n`;
  });
  return `${svg}</svg>\n`;
}

export interface Series {
  name: string;
  /** One value per step of the x axis. */
  values: readonly number[];
  /** Dashed, for reference lines. */
  dashed?: boolean;
}

/**
 * Lines over time: `values[i]` is at `xStepHours * (i + 1)` hours from the start (end-of-step values); the
 * x axis is labelled in hours, or days past two days.
 */
export function lineChart(options: { title: string; yLabel: string; series: readonly Series[]; xStepHours: number; width?: number; height?: number; yMin?: number }): string {
  const frame: Frame = { width: options.width ?? 860, height: options.height ?? 420, left: 70, right: 170, top: 40, bottom: 50 };
  const steps = Math.max(1, ...options.series.map((s) => s.values.length));
  const spanHours = steps * options.xStepHours;
  const all = options.series.flatMap((s) => s.values);
  const yMin = options.yMin ?? Math.min(0, ...all);
  const yMaxRaw = Math.max(yMin + 1e-9, ...all);
  const yTicks = niceTicks(yMin, yMaxRaw, 6);
  const yMax = Math.max(yTicks[yTicks.length - 1] as number, yMaxRaw);
  const plotH = frame.height - frame.top - frame.bottom;
  const plotW = frame.width - frame.left - frame.right;
  const x = (hours: number) => frame.left + (hours / spanHours) * plotW;
  const y = (v: number) => frame.top + plotH - ((v - yMin) / (yMax - yMin || 1)) * plotH;
  let svg = open(frame, options.title) + yAxis(frame, yTicks, y, options.yLabel);
  const inDays = spanHours > 48;
  for (const t of niceTicks(0, inDays ? spanHours / 24 : spanHours, 8)) {
    const hours = inDays ? t * 24 : t;
    const px = x(hours).toFixed(1);
    svg += `<line x1="${px}" x2="${px}" y1="${frame.height - frame.bottom}" y2="${frame.height - frame.bottom + 4}" stroke="#333"/>\n`;
    svg += `<text x="${px}" y="${frame.height - frame.bottom + 17}" text-anchor="middle" font-size="11" ${FONT}>${formatTick(t)}</text>\n`;
  }
  svg += `<text x="${(frame.left + plotW / 2).toFixed(1)}" y="${frame.height - 10}" text-anchor="middle" font-size="12" ${FONT}>${inDays ? 'days from the start of the run' : 'hours from the start of the run'}</text>\n`;
  options.series.forEach((s, i) => {
    const points = s.values.map((v, k) => `${x((k + 1) * options.xStepHours).toFixed(1)},${y(v).toFixed(1)}`);
    if (points.length) points.unshift(`${x(0).toFixed(1)},${y(s.values[0] as number).toFixed(1)}`);
    svg += `<polyline fill="none" stroke="${colorAt(i)}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 4"' : ''} points="${points.join(' ')}"><title>${escapeXml(s.name)}</title></polyline>\n`;
    const ly = frame.top + 6 + i * 18;
    const lx = frame.width - frame.right + 12;
    svg += `<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${colorAt(i)}" stroke-width="3"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>\n`;
    svg += `<text x="${lx + 28}" y="${ly + 4}" font-size="12" ${FONT}>${escapeXml(s.name)}</text>\n`;
  });
  return `${svg}</svg>\n`;
}
