/**
 * CSV as RFC 4180 writes it: a field holding a comma, a double quote, a carriage return or a line feed is
 * quoted, its quotes doubled; lines end with CRLF only inside quoted fields' own text, records with "\n".
 */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line split into fields, trimmed; quoted fields may hold commas and doubled quotes (the reading side). */
export function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}

/** One record, newline-terminated. */
export function csvLine(values: readonly (string | number | boolean | null | undefined)[]): string {
  return `${values.map(csvField).join(',')}\n`;
}

/** A header and records, each object read in `columns` order. */
export function csvTable<K extends string>(columns: readonly K[], rows: readonly Readonly<Record<K, string | number | boolean | null | undefined>>[]): string {
  return csvLine(columns) + rows.map((row) => csvLine(columns.map((c) => row[c]))).join('');
}
