import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The package's relative-import graph, read from the source text (no compiler run), for the
 * architecture tests. Nodes are repository-relative paths with forward slashes; an edge is one
 * static, side-effect, dynamic or require import whose specifier is relative and resolves to a
 * file of the package. Bare specifiers (node:fs, mqtt) are not edges.
 *
 * Type-only imports (`import type`, `export type … from`) ARE edges: they vanish at run time, but
 * a cycle through a type still means two modules can neither be understood nor moved apart one
 * without the other, which is what the acyclic rule is for (the RouteContext cycle between
 * cloud/api/build-app.ts and its routes was type-only on one side).
 */

export const SOURCE = /\.(ts|mts|js|mjs)$/;

// `import x from '…'`, `import type { X } from '…'`, `export * from '…'`, `import '…'`,
// `import('…')`, `require('…')`. A specifier built at run time (import(here(...))) is not seen:
// such loads are job-handler modules named in a table, and the table's own test covers them.
const IMPORT = /(?:^|[\s;}])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Comments are dropped first so an import inside a doc example is not read as an edge. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(text).matchAll(IMPORT)) out.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

export function listSourceFiles(root: string, folders: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const f of folders) if (existsSync(join(root, f))) walk(join(root, f));
  return out.map((p) => toRepoPath(root, p)).sort();
}

const toRepoPath = (root: string, abs: string): string => relative(root, abs).split(/[\\/]/).join('/');

/** The file a relative specifier names, as the bundler resolution the package uses finds it. */
export function resolveSpecifier(root: string, fromFile: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(root, dirname(fromFile), spec);
  const candidates = [base, ...['.ts', '.mts', '.js', '.mjs'].map((e) => base + e), ...['index.ts', 'index.mjs', 'index.js'].map((i) => join(base, i))];
  // `./x.js` written for a TypeScript file x.ts
  if (/\.js$/.test(base)) candidates.push(base.replace(/\.js$/, '.ts'));
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return toRepoPath(root, c);
  return toRepoPath(root, base);
}

export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly spec: string;
}

export function importEdges(root: string, files: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    for (const spec of importSpecifiers(readFileSync(join(root, from), 'utf8'))) {
      const to = resolveSpecifier(root, from, spec);
      if (to !== null) edges.push({ from, to, spec });
    }
  }
  return edges;
}

/**
 * The strongly connected components with more than one node, or one node importing itself:
 * exactly the import cycles. Tarjan's algorithm, iterative so a deep graph cannot overflow the
 * stack; nodes and neighbours are visited in sorted order so the answer is stable.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const nodes = [...new Set([...graph.keys(), ...[...graph.values()].flat()])].sort();
  const next = (n: string): string[] => [...new Set(graph.get(n) ?? [])].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  for (const start of nodes) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; edges: string[]; i: number }> = [];
    const open = (n: string): void => {
      index.set(n, counter);
      low.set(n, counter);
      counter++;
      stack.push(n);
      onStack.add(n);
      work.push({ node: n, edges: next(n), i: 0 });
    };
    open(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      if (top.i < top.edges.length) {
        const w = top.edges[top.i++]!;
        if (!index.has(w)) open(w);
        else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== top.node);
        if (component.length > 1 || next(top.node).includes(top.node)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

export function graphOf(edges: readonly ImportEdge[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const e of edges) g.set(e.from, [...(g.get(e.from) ?? []), e.to]);
  return g;
}
