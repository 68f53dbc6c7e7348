import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../shared/package';
import { writeModelCard } from '../zoo/model-io';
import { currentModelFromDistillOutput } from './current-model';
import { studentCard } from './student-card.test-helper';

const root = mkdtempSync(join(tmpdir(), 'edgekd-current-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function distillFolder(name: string, o: { classes?: number; dataset?: string; skip?: string } = {}): string {
  const dir = join(root, name);
  writeModelCard(dir, studentCard(o.classes ?? 3, o.dataset));
  for (const f of ['model.json', 'weights.bin', 'buffer.json', 'buffer.bin']) if (f !== o.skip) writeFileSync(join(dir, f), '{}');
  return dir;
}

const deployed = {
  name: 'fm-student',
  version: 4,
  model: { file: 'model.onnx', sha256: 'e'.repeat(64), size: 10 },
  labels: ['a', 'b', 'c'],
  input: { name: 'input', shape: ['N', 8, 8, 1], layout: 'NHWC', dtype: 'float32', normalisation: { rawRange: [0, 255], scale: [2 / 255], offset: [-1] } },
} as unknown as ModelManifest;

describe('current model of a retrain', () => {
  it('warm-starts from the distill folder and points the lineage at the deployed package', () => {
    const dir = distillFolder('ok');
    expect(currentModelFromDistillOutput(dir, deployed)).toEqual({
      studentDir: dir,
      bufferDir: dir,
      packageName: 'fm-student',
      packageVersion: 4,
      packageSha256: 'e'.repeat(64),
      labels: ['a', 'b', 'c'],
      normalisation: deployed.input.normalisation,
      inputRange: { low: -1, high: 1 },
      flipInvariant: true,
    });
  });

  it('uses flips only for a dataset known to allow them', () => {
    expect(currentModelFromDistillOutput(distillFolder('digits', { dataset: 'mnist' }), deployed).flipInvariant).toBe(false);
    expect(currentModelFromDistillOutput(distillFolder('own', { dataset: 'my-pngs' }), deployed).flipInvariant).toBe(false);
  });

  it('refuses a folder without the replay buffer or with another class count', () => {
    expect(() => currentModelFromDistillOutput(distillFolder('nobuf', { skip: 'buffer.bin' }), deployed)).toThrow(expect.objectContaining({ code: 'EDGEKD_NOT_FOUND' }));
    expect(() => currentModelFromDistillOutput(distillFolder('five', { classes: 5 }), deployed)).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
  });
});
