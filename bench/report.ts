import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { resolve } from 'node:path';
import os from 'node:os';

/**
 * Writes one benchmark's results: `bench/results/<name>.json` (rows + how they were made) and the
 * section between `<!-- bench:<name> -->` markers in BENCHMARKS.md, leaving other sections alone.
 */
export interface BenchReport<Row> {
  name: string;
  command: string;
  rows: Row[];
  /** Markdown placed under the section heading: tables, goal verdicts, notes. */
  markdown: string;
  extra?: Record<string, unknown>;
}

const root = resolve(import.meta.dirname ?? __dirname, '..');

export function machineSummary(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function writeBenchReport<Row>(r: BenchReport<Row>): { jsonPath: string } {
  const dir = resolve(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const jsonPath = resolve(dir, `${r.name}.json`);
  const measuredAt = new Date().toISOString();
  atomicWrite(jsonPath, JSON.stringify({ name: r.name, command: r.command, machine: machineSummary(), measuredAt, ...r.extra, rows: r.rows }, null, 2) + '\n');

  const mdPath = resolve(root, 'BENCHMARKS.md');
  const begin = `<!-- bench:${r.name} -->`;
  const end = `<!-- /bench:${r.name} -->`;
  const section = `${begin}\n## ${r.name}\n\nCommand: \`${r.command}\` — measured ${measuredAt} on ${machineSummary()}.\n\n${r.markdown.trim()}\n${end}`;
  let md = existsSync(mdPath) ? readFileSync(mdPath, 'utf8') : '# Benchmarks\n\nEvery figure below was measured by the command shown, on the machine named. Raw rows are in `bench/results/*.json`.\n';
  const i = md.indexOf(begin);
  const j = md.indexOf(end);
  md = i >= 0 && j > i ? md.slice(0, i) + section + md.slice(j + end.length) : `${md.trimEnd()}\n\n${section}\n`;
  atomicWrite(mdPath, md);
  return { jsonPath };
}

/** A markdown table from rows and column picks. */
export function markdownTable<Row>(rows: Row[], columns: Array<[header: string, pick: (r: Row) => string | number]>): string {
  const head = `| ${columns.map((c) => c[0]).join(' | ')} |`;
  const sep = `| ${columns.map(() => '---').join(' | ')} |`;
  const body = rows.map((r) => `| ${columns.map((c) => String(c[1](r))).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}
