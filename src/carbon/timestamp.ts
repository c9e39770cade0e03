const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?:(:\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Epoch ms of a timestamp in a trace file or a provider's answer, or NaN: ISO 8601
 * (`2024-01-01T00:00:00Z`, `...+09:00`), the exports' `2024-01-01 00:00:00`, or a bare date. A date-time
 * without `Z` or an offset is UTC, as the exports' is: `Date.parse` would read it in the host's time zone,
 * shifting the trace by the host's offset and folding the hour a daylight-saving change skips onto its
 * neighbour. Anything else (`3/3/2025 00:00`, which `Date.parse` would also read in local time) is not a
 * timestamp, nor is a date or time that does not exist: `Date.parse` rolls `2025-02-30` over to March 2
 * and `24:00` to the next midnight, moving the value onto another one's time.
 */
export function parseTimestamp(text: string): number {
  const iso = ISO_TIMESTAMP.exec(text.trim());
  if (!iso) return Number.NaN;
  const [, date, time = '00:00', seconds = ':00', fraction = '', zone = 'Z'] = iso;
  const wallClock = `${date}T${time}${seconds}`;
  // A date and time that exist read back as written; one that does not was rolled over (or refused).
  const asUtc = Date.parse(`${wallClock}Z`);
  if (Number.isNaN(asUtc) || new Date(asUtc).toISOString().slice(0, 19) !== wallClock) return Number.NaN;
  return Date.parse(`${wallClock}${fraction}${zone}`);
}
