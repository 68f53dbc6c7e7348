import { describe, expect, it, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { initCompute } from '../compute';
import { createLogger } from '../../shared/log/logger';
import { isEdgekdError } from '../../shared/errors';
import { loadImageFolder } from '../data/image-folder';
import { createRandom } from '../../shared/random/seeded-random';
import { loadModel } from '../zoo/model-io';
import { findCheckpoint } from './checkpoint';
import { trainTeacher, type TeacherTrainConfig } from './train-teacher';

const ROOT = resolve(import.meta.dirname, '../..');
const log = createLogger('test', 'silent');

/** Two classes of 28x28 PNGs a small CNN separates in a few steps: a bright bar left vs right. */
function makeTinyDataset(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-tiny-'));
  const rng = createRandom(3);
  for (const [ci, cls] of ['left', 'right'].entries()) {
    mkdirSync(join(dir, cls));
    for (let i = 0; i < 20; i++) {
      const png = new PNG({ width: 28, height: 28 });
      for (let p = 0; p < 784; p++) {
        const x = p % 28;
        const bar = ci === 0 ? x < 10 : x >= 18;
        const v = Math.round(bar ? 200 + rng.next() * 55 : rng.next() * 60);
        png.data.set([v, v, v, 255], p * 4);
      }
      writeFileSync(join(dir, cls, `${String(i).padStart(2, '0')}.png`), PNG.sync.write(png));
    }
  }
  return dir;
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; kill: () => void }> & { child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/edgekd.mjs'), ...args], { cwd: ROOT, env: { ...process.env, EDGEKD_LOG_LEVEL: 'silent' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const p = new Promise<{ code: number | null; stdout: string; stderr: string; kill: () => void }>((res) =>
    child.on('exit', (code) => res({ code, stdout, stderr, kill: () => child.kill('SIGKILL') })),
  ) as Promise<{ code: number | null; stdout: string; stderr: string; kill: () => void }> & { child: ReturnType<typeof spawn> };
  p.child = child;
  return p;
}

function completedEpochs(out: string): number {
  const d = findCheckpoint(out);
  return d ? (JSON.parse(readFileSync(join(d, 'state.json'), 'utf8')) as { completedEpochs: number }).completedEpochs : 0;
}

describe('teacher training checkpoints', () => {
  let data: string;
  beforeAll(() => {
    data = makeTinyDataset();
  });

  it('resumes after the process is killed, from the last complete checkpoint', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'edgekd-resume-')), 'teacher');
    const base = ['teacher', 'train', '--dataset-dir', data, '--arch', 'lenet5-half', '--batch', '8', '--seed', '5', '--out', out, '--no-progress', '--backend', 'wasm'];
    const first = runCli([...base, '--epochs', '500']);
    const deadline = Date.now() + 90_000;
    while (completedEpochs(out) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    const killed = await first;
    expect(killed.code).toBeNull(); // killed, not finished
    const k = completedEpochs(out);
    expect(k).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(out, 'model.json'))).toBe(false);

    const second = await runCli([...base, '--epochs', String(k + 2), '--resume']);
    expect(second.code, second.stderr).toBe(0);
    const summary = JSON.parse(second.stdout.trim().split('\n').pop()!) as { resumedFromEpoch: number; epochs: number };
    expect(summary.resumedFromEpoch).toBe(k);
    const events = readFileSync(join(out, 'training-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; epoch?: number; fromEpoch?: number });
    const resumeAt = events.findIndex((e) => e.event === 'resume');
    expect(events[resumeAt]!.fromEpoch).toBe(k);
    expect(events.slice(resumeAt + 1).filter((e) => e.event === 'epoch').map((e) => e.epoch)).toEqual([k + 1, k + 2]);
    expect(events.at(-1)!.event).toBe('done');
    const card = JSON.parse(readFileSync(join(out, 'model-card.json'), 'utf8')) as { training: { epochs: number }; accuracy: { test: number } };
    expect(card.training.epochs).toBe(k + 2);
    expect(findCheckpoint(out)).toBeNull();
  }, 180_000);

  it('a resumed run ends with exactly the weights of an uninterrupted one', async () => {
    await initCompute({ backend: 'wasm', logger: log });
    const dataset = loadImageFolder(data, { inputShape: [28, 28, 1] });
    const cfg = (outDir: string, resume: boolean): TeacherTrainConfig => ({
      arch: 'lenet5-half',
      seed: 9,
      epochs: 4,
      batchSize: 8,
      learningRate: 0.002,
      augment: 'shift',
      outDir,
      resume,
      force: false,
      command: 'test',
      backend: 'wasm',
    });
    const straight = join(mkdtempSync(join(tmpdir(), 'edgekd-straight-')), 'm');
    await trainTeacher(cfg(straight, false), { dataset, log });

    const interrupted = join(mkdtempSync(join(tmpdir(), 'edgekd-interrupted-')), 'm');
    const stop = new AbortController();
    let err: unknown;
    try {
      await trainTeacher(cfg(interrupted, false), { dataset, log, signal: stop.signal, onEpoch: (r) => r.epoch === 2 && stop.abort() });
    } catch (e) {
      err = e;
    }
    expect(isEdgekdError(err, 'EDGEKD_RUN_CANCELLED')).toBe(true);
    // Without resume, the unfinished run's checkpoint is protected.
    await expect(trainTeacher(cfg(interrupted, false), { dataset, log })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    const resumed = await trainTeacher(cfg(interrupted, true), { dataset, log });
    expect(resumed.resumedFromEpoch).toBe(2);

    const a = (await loadModel(straight)).getWeights();
    const b = (await loadModel(interrupted)).getWeights();
    a.forEach((w, i) => expect(Array.from(b[i]!.dataSync())).toEqual(Array.from(w.dataSync())));
    // The BatchNorm moving statistics moved away from their initial values while training.
    const mean = (await loadModel(straight)).getLayer('conv1_bn').getWeights()[2]!.dataSync();
    expect(Array.from(mean).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  }, 120_000);
});
