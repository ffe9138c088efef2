import { strict as assert } from 'node:assert';

/**
 * Minimal RFC 4180 reader (quoted cells, doubled quotes, CRLF records) to read exports back.
 * With `requireFinalCrlf`, asserts that the text ends with a record separator.
 */
export function parseCsv(text: string, opts: { requireFinalCrlf?: boolean } = {}): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else {
      cell += c;
    }
  }
  if (opts.requireFinalCrlf) {
    assert.equal(cell, '', 'export ends with CRLF');
  } else if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
