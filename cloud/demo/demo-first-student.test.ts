import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FIRST_STUDENT_DIR, findFirstStudent } from './demo-first-student';
import { initCompute } from '../compute';
import { createLogger } from '../../shared/log/logger';
import { loadBuiltinDataset } from '../data/builtin-datasets';
import { evenSubset } from '../data/labelled-split';
import { DEBIAN_FASHION_MNIST_DIR } from '../data/official-datasets';
import { evaluateModel } from '../teacher/evaluate';
import { loadModel } from '../zoo';
import { isDataFreeMethod } from '../distill/config';

const haveOfficial = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) || process.env.EDGEKD_REQUIRE_SERVICES === '1';

const root = mkdtempSync(join(tmpdir(), 'edgekd-first-student-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const savedEnv = process.env.EDGEKD_FASHION_MNIST_DIR;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.EDGEKD_FASHION_MNIST_DIR;
  else process.env.EDGEKD_FASHION_MNIST_DIR = savedEnv;
});

function officialFilesIn(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(dir, `${f}.gz`), '');
  return dir;
}

const summary = { command: 'edgekd distill …', method: 'fast-budget-eq', seed: 1, validationAccuracy: 0.8, testAccuracy: 0.81, samplesGenerated: 11008, studentSteps: 2240, seconds: 900 };

describe('the demo first student', () => {
  it('is read from its summary when the student and the official files are there', () => {
    process.env.EDGEKD_FASHION_MNIST_DIR = officialFilesIn(join(root, 'official'));
    const dir = join(root, 'student');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), '{}');
    writeFileSync(join(dir, 'model-card.json'), JSON.stringify({ architecture: 'lenet5-bn' }));
    writeFileSync(join(dir, 'student-summary.json'), JSON.stringify(summary));
    expect(findFirstStudent(dir)).toEqual({ summary: { dir, arch: 'lenet5-bn', ...summary }, why: null });
  });

  it('is skipped, with the reason, without the official files (the feeder could not stream validation images)', () => {
    process.env.EDGEKD_FASHION_MNIST_DIR = join(root, 'nowhere');
    const dir = join(root, 'student2');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), '{}');
    writeFileSync(join(dir, 'student-summary.json'), JSON.stringify(summary));
    const r = findFirstStudent(dir);
    expect(r.summary).toBeNull();
    expect(r.why).toMatch(/dataset-fashion-mnist/);
  });

  it('is skipped without a committed student, and a malformed summary is a typed error', () => {
    process.env.EDGEKD_FASHION_MNIST_DIR = officialFilesIn(join(root, 'official2'));
    expect(findFirstStudent(join(root, 'empty')).summary).toBeNull();
    const dir = join(root, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), '{}');
    writeFileSync(join(dir, 'student-summary.json'), JSON.stringify({ ...summary, testAccuracy: 'high' }));
    expect(() => findFirstStudent(dir)).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    writeFileSync(join(dir, 'student-summary.json'), JSON.stringify(summary));
    expect(() => findFirstStudent(dir)).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID', message: expect.stringMatching(/no architecture/) }));
  });

  it('points at the committed student folder', () => {
    expect(FIRST_STUDENT_DIR).toMatch(/models\/students\/official-fashion-mnist-fbe-lenet5-bn$/);
  });

  it.skipIf(!haveOfficial)('agrees with its summary on 1,000 official test images, and that summary is at least 80 %', async () => {
    await initCompute({ backend: 'wasm', logger: createLogger('test', 'silent') });
    const r = JSON.parse(readFileSync(join(FIRST_STUDENT_DIR, 'student-summary.json'), 'utf8')) as { testAccuracy: number; testSamples: number; method: string };
    expect(r.testSamples).toBe(10_000);
    expect(r.testAccuracy).toBeGreaterThanOrEqual(0.8);
    expect(isDataFreeMethod(r.method)).toBe(true);
    const model = await loadModel(FIRST_STUDENT_DIR);
    // Binomial standard error at p ≈ 0.86 on 1,000 images ≈ 0.011: within ±0.03 is about 3σ.
    const m = evaluateModel(model, evenSubset(loadBuiltinDataset('fashion-mnist').test, 1000));
    expect(Math.abs(m.accuracy - r.testAccuracy)).toBeLessThan(0.03);
    model.dispose();
  }, 60_000);
});
