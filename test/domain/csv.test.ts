import { describe, expect, it } from 'vitest';
import { csvLine, splitCsvLine } from '../../src/domain/csv.js';

describe('splitCsvLine', () => {
  it.each([
    { line: 'a,b,c', fields: ['a', 'b', 'c'] },
    { line: ' a , b ,', fields: ['a', 'b', ''] },
    { line: '"x, y","say ""hi""",z', fields: ['x, y', 'say "hi"', 'z'] },
    { line: '', fields: [''] },
  ])('splits $line', ({ line, fields }) => {
    expect(splitCsvLine(line)).toEqual(fields);
  });

  it('reads back what csvLine writes', () => {
    const values = ['plain', 'with, comma', 'with "quotes"', '', '42'];
    expect(splitCsvLine(csvLine(values).trimEnd())).toEqual(values);
  });
});
