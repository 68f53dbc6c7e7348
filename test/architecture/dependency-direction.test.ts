import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCycles, graphOf, importEdges, importSpecifiers, listSourceFiles, resolveSpecifier, type ImportEdge } from './import-graph';

/**
 * The package's layering, checked on every relative import of every source file:
 *
 *   edge → shared ← cloud      (edge and cloud never import each other; shared imports neither)
 *   bin → cloud/cli, edge/cli  (nothing else imports a CLI module: CLIs parse flags and call
 *                               library functions, which is what everything else calls too)
 *   production code ↛ test/, bench/
 *   no import cycles
 */

const root = resolve(__dirname, '../..');
const files = listSourceFiles(root, ['cloud', 'edge', 'shared', 'bin', 'bench', 'test', 'deploy', 'scripts']);
const edges = importEdges(root, files);

const top = (path: string): string => path.split('/')[0]!;
/** Test code: test files, their helpers (`*.test-helper.ts`), and everything under test/. */
const isTestCode = (path: string): boolean => /\.test\.ts$|\.test-helper\.ts$/.test(path) || top(path) === 'test';
const isCliModule = (path: string): boolean => /^(cloud|edge)\/cli\//.test(path);
const show = (e: ImportEdge): string => `${e.from} imports ${e.spec}`;

function layerViolations(all: readonly ImportEdge[]): Record<string, string[]> {
  const out: Record<string, string[]> = { edgeToCloud: [], sharedUp: [], cloudToEdge: [], productionToHarness: [], benchToTestFile: [], cliImported: [] };
  for (const e of all) {
    const [from, to] = [top(e.from), top(e.to)];
    if (from === 'edge' && to === 'cloud') out.edgeToCloud!.push(show(e));
    if (from === 'shared' && (to === 'cloud' || to === 'edge')) out.sharedUp!.push(show(e));
    if (from === 'cloud' && to === 'edge') out.cloudToEdge!.push(show(e));
    // Production code (cloud, edge, shared, bin, deploy, scripts outside test files) never
    // depends on a harness. bench/ is a harness too: it may use test/'s support modules (service
    // probes, a Mosquitto launcher, sized packages) but never a test file.
    if (!isTestCode(e.from) && from !== 'bench' && (to === 'test' || to === 'bench')) out.productionToHarness!.push(show(e));
    if (from === 'bench' && !isTestCode(e.from) && /\.test\.ts$/.test(e.to)) out.benchToTestFile!.push(show(e));
    // A CLI module is imported by bin/ (the dispatcher), by the tests of CLIs, and by another CLI
    // module of the same folder (edge/cli/agent-entry.ts, the bundled agent's main).
    const cliAllowed = from === 'bin' || isTestCode(e.from) || (isCliModule(e.from) && e.from.split('/')[1] === e.to.split('/')[1] && top(e.from) === to);
    if (isCliModule(e.to) && !cliAllowed) out.cliImported!.push(show(e));
  }
  return out;
}

describe('dependency direction edge → shared ← cloud', () => {
  const v = layerViolations(edges);
  it('sees the whole package (the scan found files and their imports)', () => {
    expect(files.length).toBeGreaterThan(300);
    expect(edges.length).toBeGreaterThan(1000);
    expect(edges).toContainEqual(expect.objectContaining({ from: 'bin/edgekd-main.ts', to: 'cloud/cli/cloud.ts' }));
  });
  it('edge never imports cloud', () => {
    expect(v.edgeToCloud).toEqual([]);
  });
  it('shared imports neither cloud nor edge', () => {
    expect(v.sharedUp).toEqual([]);
  });
  it('cloud never imports edge', () => {
    expect(v.cloudToEdge).toEqual([]);
  });
  it('production code never imports test/ or bench/, and a benchmark never imports a test file', () => {
    expect(v.productionToHarness).toEqual([]);
    expect(v.benchToTestFile).toEqual([]);
  });
  it('nothing but bin/ and the tests of CLIs imports cloud/cli or edge/cli', () => {
    expect(v.cliImported).toEqual([]);
  });
  it('the source files have no import cycle (type-only imports included)', () => {
    expect(findCycles(graphOf(edges))).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('reads static, type-only, re-export, side-effect, dynamic and require imports, and skips comments', () => {
    const text = [
      "import { a } from './a';",
      "import type { B } from '../b';",
      "export * from './c';",
      "export { d } from './d';",
      "import './e';",
      "const f = await import('./f');",
      "const g = require('./g');",
      "import mqtt from 'mqtt';",
      "// import { h } from './h';",
      "/* import { i } from './i'; */",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['./a', '../b', './c', './d', './e', './f', './g', 'mqtt']);
  });
  it('resolves a relative specifier to a file of the package, and ignores bare ones', () => {
    expect(resolveSpecifier(root, 'cloud/api/build-app.ts', './route-context')).toBe('cloud/api/route-context.ts');
    expect(resolveSpecifier(root, 'cloud/api/start-cloud.ts', '../zoo')).toBe('cloud/zoo/index.ts');
    expect(resolveSpecifier(root, 'cloud/api/build-app.ts', 'fastify')).toBeNull();
  });
  it('flags each forbidden direction on a synthetic edge list', () => {
    const e = (from: string, to: string): ImportEdge => ({ from, to, spec: to });
    const v = layerViolations([
      e('edge/agent/x.ts', 'cloud/y.ts'),
      e('shared/x.ts', 'edge/y.ts'),
      e('cloud/x.ts', 'edge/y.ts'),
      e('cloud/x.ts', 'test/helpers/y.ts'),
      e('cloud/x.test.ts', 'test/helpers/y.ts'),
      e('bench/x.ts', 'test/helpers/y.ts'),
      e('bench/x.ts', 'test/fleet/y.test.ts'),
      e('cloud/jobs/x.ts', 'cloud/cli/teacher-import.ts'),
      e('cloud/jobs/handlers/export-job.ts', 'cloud/cli/export.ts'),
      e('bin/edgekd-main.ts', 'cloud/cli/cloud.ts'),
      e('edge/cli/agent-entry.ts', 'edge/cli/agent.ts'),
      e('cloud/cli/x.test.ts', 'cloud/cli/x.ts'),
      e('cloud/cli/demo.ts', 'edge/cli/agent.ts'),
    ]);
    expect(v).toEqual({
      edgeToCloud: ['edge/agent/x.ts imports cloud/y.ts'],
      sharedUp: ['shared/x.ts imports edge/y.ts'],
      cloudToEdge: ['cloud/x.ts imports edge/y.ts', 'cloud/cli/demo.ts imports edge/cli/agent.ts'],
      productionToHarness: ['cloud/x.ts imports test/helpers/y.ts'],
      benchToTestFile: ['bench/x.ts imports test/fleet/y.test.ts'],
      cliImported: ['cloud/jobs/x.ts imports cloud/cli/teacher-import.ts', 'cloud/jobs/handlers/export-job.ts imports cloud/cli/export.ts', 'cloud/cli/demo.ts imports edge/cli/agent.ts'],
    });
  });
  it('finds a cycle in a tiny synthetic graph, a self-import, and none in a diamond', () => {
    const g = new Map<string, string[]>([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['s', ['s']],
      ['x', ['y', 'z']],
      ['y', ['w']],
      ['z', ['w']],
    ]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c'], ['s']]);
    expect(findCycles(new Map([['x', ['y', 'z']], ['y', ['w']], ['z', ['w']]]))).toEqual([]);
  });
  it('finds the cycle a route module closing back on build-app.ts would make', () => {
    const g = graphOf([...edges, { from: 'cloud/api/route-context.ts', to: 'cloud/api/build-app.ts', spec: './build-app' }]);
    expect(findCycles(g)).toContainEqual(expect.arrayContaining(['cloud/api/build-app.ts', 'cloud/api/route-context.ts']));
  });
});
