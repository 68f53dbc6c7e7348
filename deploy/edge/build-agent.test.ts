import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../../test/edge/helpers/aedes-broker';
import { startFakeCloud, type FakeCloud } from '../../test/edge/helpers/fake-cloud';

const root = resolve(__dirname, '../..');
// Inside the repository so the external native modules resolve from its node_modules, as they do
// from the install directory on a device.
const outDir = join(root, 'dist', `bundle-test-${process.pid}`);
const bundle = join(outDir, 'edgekd-agent.mjs');

describe('edge agent bundle (npm run build:edge)', () => {
  let broker: TestBroker | null = null;
  let cloud: FakeCloud | null = null;
  const tmp = mkdtempSync(join(tmpdir(), 'edgekd-bundle-'));
  afterAll(async () => {
    await cloud?.close();
    await broker?.close();
    rmSync(outDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('builds one ESM file whose only import outside Node itself is onnxruntime-node', () => {
    const out = JSON.parse(execFileSync(process.execPath, [join(root, 'deploy/edge/build-agent.mjs'), '--outfile', bundle], { encoding: 'utf8' }));
    expect(out.bytes).toBeGreaterThan(100_000);
    // esbuild's own account of what the bundle imports at run time (Node built-ins aside): a
    // compiled module anywhere in the agent's dependency tree would show up here.
    expect(out.externals).toEqual(['onnxruntime-node']);
    // And the text agrees: no require/import of a bare package name other than onnxruntime-node.
    const code = readFileSync(bundle, 'utf8');
    const imported = new Set([...code.matchAll(/(?:\bfrom\s*|\brequire\(|\bimport\()\s*["']([^"'./][^"']*)["']/g)].map((m) => m[1]!));
    const builtin = new Set(builtinModules);
    expect([...imported].filter((p) => !p.startsWith('node:') && !builtin.has(p)).sort()).toEqual(['onnxruntime-node']);
    const text = execFileSync('head', ['-c', '400', bundle], { encoding: 'utf8' });
    expect(text).toContain('createRequire');
    const help = execFileSync(process.execPath, [bundle, '--help'], { encoding: 'utf8' });
    expect(help).toContain('usage: edgekd agent --config FILE');
  }, 60_000);

  it('runs: connects, publishes its birth and stops cleanly on SIGTERM', async () => {
    broker = await startTestBroker();
    cloud = await startFakeCloud(broker.url, []);
    writeFileSync(join(tmp, 'keys.json'), JSON.stringify({ schemaVersion: 1, keys: [] }));
    writeFileSync(join(tmp, 'agent.json'), JSON.stringify({ deviceId: 'bundled-1', stateDir: join(tmp, 'state'), trustedKeysFile: join(tmp, 'keys.json'), mqtt: { url: broker.url }, http: { port: 0 } }));
    const child = spawn(process.execPath, [bundle, '--config', join(tmp, 'agent.json')], { env: { ...process.env, EDGEKD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
    await cloud.waitFor(() => cloud!.presences.find((p) => p.deviceId === 'bundled-1' && p.state === 'online'), 30_000);
    // What the running process has actually mapped: no shared object from node_modules except
    // onnxruntime-node's own (it loads lazily, with the first model, so it may be absent here).
    const mapped = [...new Set(readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((f) => f.includes('node_modules')))];
    expect(mapped.filter((f) => !f.includes('/node_modules/onnxruntime-node/'))).toEqual([]);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    await cloud.waitFor(() => cloud!.presences.find((p) => p.deviceId === 'bundled-1' && p.state === 'offline' && p.reason === 'shutdown'));
  }, 60_000);
});
