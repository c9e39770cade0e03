/** The text of a file without its UTF-8 byte-order mark, which editors on Windows often write and JSON.parse refuses. */
export function withoutBom(text: string): string {
  return text.replace(/^\uFEFF/, '');
}
