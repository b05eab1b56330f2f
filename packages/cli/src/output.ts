// Listings as a table (kubectl-style columns), JSON or YAML; colour only on a TTY.
import { stringify } from 'yaml';
import { usage } from './errors.js';

export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

export function outputFormat(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) usage(`-o ${value} is not an output format`, `use one of ${OUTPUT_FORMATS.join(', ')}`);
  return value as OutputFormat;
}

/** Columns separated by three spaces, padded to the widest cell; `rows` may be empty. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** Prints `data` as JSON/YAML, or `asTable()` for the table format. */
export function render(format: OutputFormat, data: unknown, asTable: () => string): string {
  switch (format) {
    case 'json': return `${JSON.stringify(data, null, 2)}\n`;
    case 'yaml': return stringify(data);
    case 'table': return asTable();
  }
}

const useColour = process.stdout.isTTY && process.env.NO_COLOR === undefined;
const paint = (code: number) => (text: string): string => (useColour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);

/** How long ago an ISO time was, kubectl-style: 45s, 12m, 3h, 2d; '' when unknown. */
export function age(iso: string | undefined): string {
  if (iso === undefined || iso === '') return '';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}
