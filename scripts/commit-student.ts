/**
 * Copies the small files of an `edgekd distill --eval-split validation` output into a folder meant
 * for git, and writes its summary record:
 *
 *   npx tsx scripts/commit-student.ts --from OUT --to models/students/NAME [--calibration N]
 *
 * Kept: model.json, weights.bin, model-card.json, run-record.json, and the first N samples (default
 * 1,024; the demo's student keeps 512) of the final replay buffer as a buffer of its own (synthetic only, with its own content
 * hash; the export calibrates on a class-balanced 512 of them and builds its drift reference from
 * them). The full buffer (tens of MB) is not kept: student-summary.json records its content hash, the
 * SHA-256 of its buffer.bin and its label histogram, so a rerun of the command can be checked
 * against it.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadBuffer, saveBuffer } from '../cloud/distill/buffer-file';
import type { RunRecord } from '../cloud/distill/run-output';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const from = resolve(opt('from') ?? '');
const to = resolve(opt('to') ?? '');
const keep = Number(opt('calibration') ?? 1024);
if (!opt('from') || !opt('to') || !Number.isInteger(keep) || keep < 1) {
  console.error('usage: npx tsx scripts/commit-student.ts --from OUT --to DIR [--calibration N]');
  process.exit(2);
}

const record = JSON.parse(readFileSync(join(from, 'run-record.json'), 'utf8')) as RunRecord;
const test = record.metrics.testAccuracy;
if (record.metrics.evalSplit !== 'validation' || !test) {
  console.error(`${from}: the run was not scored on the validation split (edgekd distill --eval-split validation); refusing to commit a student chosen on test`);
  process.exit(2);
}
mkdirSync(to, { recursive: true });
for (const f of ['model.json', 'weights.bin', 'model-card.json', 'run-record.json']) copyFileSync(join(from, f), join(to, f));

const full = loadBuffer(from);
const fullHeader = JSON.parse(readFileSync(join(from, 'buffer.json'), 'utf8')) as { contentSha256: string; size: number };
const fullHistogram = histogram(full.exportCalibrationSet(full.count).labels, 10);
const slice = loadBuffer(from, { capacity: Math.min(keep, full.count) });
saveBuffer(to, slice, { method: record.method, seed: record.seed, sliceOf: { contentSha256: fullHeader.contentSha256, size: fullHeader.size, firstSamples: slice.count } });
const sliceHistogram = histogram(slice.exportCalibrationSet(slice.count).labels, 10);

const studentSteps = (record.config as { epochs: number; warmupEpochs: number; kdStepsPerEpoch: number });
const summary = {
  command: record.command,
  seed: record.seed,
  method: record.method,
  teacher: { ...record.teacher, dir: record.teacher.dir ? relative(resolve(import.meta.dirname, '..'), record.teacher.dir) : null },
  validationAccuracy: record.metrics.finalAccuracy,
  bestValidationAccuracy: record.metrics.bestAccuracy,
  testAccuracy: test.accuracy,
  testSamples: test.samples,
  samplesGenerated: record.metrics.samplesGenerated,
  bufferCapacity: record.metrics.bufferCapacity,
  studentSteps: (studentSteps.epochs - studentSteps.warmupEpochs) * studentSteps.kdStepsPerEpoch,
  seconds: record.metrics.totalSeconds,
  synthesisSeconds: record.metrics.synthesisSeconds,
  distillSeconds: record.metrics.distillSeconds,
  syntheticBuffer: {
    contentSha256: fullHeader.contentSha256,
    bufferBinSha256: createHash('sha256').update(readFileSync(join(from, 'buffer.bin'))).digest('hex'),
    size: fullHeader.size,
    labelHistogram: fullHistogram,
    committedSlice: { samples: slice.count, labelHistogram: sliceHistogram },
  },
};
writeFileSync(join(to, 'student-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(JSON.stringify({ to, validationAccuracy: summary.validationAccuracy, testAccuracy: summary.testAccuracy, slice: sliceHistogram }, null, 1));

function histogram(labels: ArrayLike<number>, classes: number): number[] {
  const h = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]!]!++;
  return h;
}
