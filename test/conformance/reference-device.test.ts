import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConformanceTable, type ConformanceReport } from '../../cloud/conformance/run-conformance';
import { generateSigningKey, trustedKeyEntry } from '../../shared/package';
import { startTestBroker, type TestBroker } from '../edge/helpers/aedes-broker';
import { servicesRequired } from '../helpers/services';

/**
 * The Python reference device (deploy/reference-device/, Debian's python3-paho-mqtt and
 * python3-cryptography) against edgekd conformance and the published vectors. Without a python3
 * that imports both the suite is skipped with the reason; with EDGEKD_REQUIRE_SERVICES=1 it fails.
 */
const deviceDir = resolve(__dirname, '../../deploy/reference-device');
const candidates = [process.env.EDGEKD_PYTHON, '/usr/bin/python3', 'python3'].filter((x): x is string => !!x);
const python = candidates.find((p) => spawnSync(p, ['-c', 'import paho.mqtt.client, cryptography'], { stdio: 'ignore' }).status === 0);
const missing = 'no python3 with paho-mqtt and cryptography (Debian: apt-get install python3-paho-mqtt python3-cryptography, or set EDGEKD_PYTHON)';
if (!python && servicesRequired()) throw new Error(`the reference device needs ${missing}`);
const d = python ? describe : describe.skip;
if (!python) console.warn(`skipping the reference-device conformance suite: ${missing}`);

d('the Python reference device', () => {
  it('passes the published test vectors (RFC 8785 numbers, the awkward signed manifest, chunk frames)', () => {
    const r = spawnSync(python!, ['-B', join(deviceDir, 'check_vectors.py'), resolve(__dirname, '../../docs/protocol/vectors')], { encoding: 'utf8' });
    expect(r.stdout, r.stderr).toMatch(/^0 failed$/m);
    expect(r.status).toBe(0);
  });

  describe('passes edgekd conformance (embedded broker)', () => {
    let broker: TestBroker;
    let child: ChildProcess;
    let dir: string;
    let output = '';
    const signer = generateSigningKey();
    const key = signer.key;
    const dev = `conf-py-${process.pid}`;

    beforeAll(async () => {
      broker = await startTestBroker();
      dir = mkdtempSync(join(tmpdir(), 'edgekd-refdev-'));
      writeFileSync(join(dir, 'trusted-keys.json'), JSON.stringify({ schemaVersion: 1, keys: [trustedKeyEntry(key.publicKeyRaw)] }));
      child = spawn(python!, [
        '-B', join(deviceDir, 'edgekd_device.py'), '--broker', broker.url, '--device', dev, '--trusted-keys', join(dir, 'trusted-keys.json'),
        '--state-dir', join(dir, 'state'), '--heartbeat-ms', '500', '--resend-ms', '1000', '--chunk-timeout-ms', '500', '--keepalive', '5',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    });
    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await broker?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('passes every case of `edgekd conformance` (the CLI, credentials in the broker URL)', async () => {
      const keyFile = join(dir, 'signing-key.json');
      writeFileSync(keyFile, JSON.stringify(signer.file));
      const cli = spawn(process.execPath, [
        resolve(__dirname, '../../bin/edgekd.mjs'), 'conformance', '--broker', broker.url.replace('mqtt://', 'mqtt://conformance:not-checked-here@'), '--device', dev,
        '--signing-key', keyFile, '--timeout-ms', '30000', '--redelivery-wait-ms', '10000', '--heartbeat-wait-ms', '5000', '--json',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      cli.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      cli.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const code = await new Promise<number | null>((r) => cli.once('exit', r));
      const report = JSON.parse(stdout) as ConformanceReport;
      console.log(formatConformanceTable(report));
      expect(report.results.filter((r) => !r.ok), `${formatConformanceTable(report)}\n${stderr}\n\ndevice output:\n${output.slice(-4000)}`).toEqual([]);
      expect(report.results.length).toBeGreaterThanOrEqual(16);
      expect(code).toBe(0);
    }, 180_000);
  });
});
