import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { loadBuffer, saveBuffer } from './buffer-file';
import type { OptimizerState } from './optimizers';
import type { ReplayBuffer } from './replay-buffer';
import type { SynthesizerState } from './synthesizer';
import { atomicWriteFile, loadTensorList, saveTensorList } from './tensor-file';

/**
 * Run checkpoints. Each one is a complete folder `epoch-<n>/` written first; only then does
 * `latest.json` (renamed into place atomically) point at it, and older folders are removed. A kill
 * at any moment therefore leaves `latest.json` naming a complete checkpoint (or none).
 */
export interface CheckpointMeta {
  format: 'edgekd-distill-checkpoint';
  version: 1;
  /** Identity of the run: method, seed and resolved config; a resume must match it. */
  runKey: string;
  /** Epochs completed. */
  epoch: number;
  rngState: number;
  counters: Record<string, number>;
  history: unknown[];
  emaPresent: boolean[];
}

export interface CheckpointData {
  meta: CheckpointMeta;
  studentWeights: tf.Tensor[];
  studentOptimizer: OptimizerState;
  synth: SynthesizerState;
  buffer: ReplayBuffer | null;
}

export function saveCheckpoint(dir: string, data: CheckpointData): string {
  const name = `epoch-${data.meta.epoch}`;
  const d = join(dir, name);
  rmSync(d, { recursive: true, force: true });
  saveTensorList(join(d, 'student'), data.studentWeights);
  saveTensorList(join(d, 'student-optimizer'), data.studentOptimizer.slots);
  saveTensorList(join(d, 'generator'), data.synth.params);
  saveTensorList(join(d, 'generator-optimizer'), data.synth.optimizer.slots);
  saveTensorList(join(d, 'bn-ema'), data.synth.ema.flatMap((e) => (e ? [e.mean, e.variance] : [])));
  if (data.buffer) saveBuffer(d, data.buffer);
  const meta = { ...data.meta, emaPresent: data.synth.ema.map((e) => e !== null), studentOptimizerStep: data.studentOptimizer.step, generatorOptimizerStep: data.synth.optimizer.step };
  atomicWriteFile(join(d, 'meta.json'), JSON.stringify(meta));
  atomicWriteFile(join(dir, 'latest.json'), JSON.stringify({ checkpoint: name, epoch: data.meta.epoch }));
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('epoch-') && entry !== name) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  return d;
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'latest.json'));
}

export function loadCheckpoint(dir: string, runKey: string): CheckpointData {
  let pointer: { checkpoint: string };
  try {
    pointer = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${join(dir, 'latest.json')} is unreadable`, { cause: e });
  }
  const d = join(dir, pointer.checkpoint);
  let meta: CheckpointMeta & { studentOptimizerStep: number; generatorOptimizerStep: number };
  try {
    meta = JSON.parse(readFileSync(join(d, 'meta.json'), 'utf8'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${d}/meta.json is unreadable`, { cause: e });
  }
  if (meta.format !== 'edgekd-distill-checkpoint') throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${d} is not a distillation checkpoint`);
  if (meta.runKey !== runKey) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `the checkpoint in ${dir} belongs to another run (method, seed or config differ); use a fresh --out or drop --resume`);
  }
  const emaFlat = loadTensorList(join(d, 'bn-ema'));
  let k = 0;
  const ema = meta.emaPresent.map((p) => (p ? { mean: emaFlat[k++] as tf.Tensor1D, variance: emaFlat[k++] as tf.Tensor1D } : null));
  return {
    meta,
    studentWeights: loadTensorList(join(d, 'student')),
    studentOptimizer: { step: meta.studentOptimizerStep, slots: loadTensorList(join(d, 'student-optimizer')) },
    synth: { params: loadTensorList(join(d, 'generator')), optimizer: { step: meta.generatorOptimizerStep, slots: loadTensorList(join(d, 'generator-optimizer')) }, ema },
    buffer: existsSync(join(d, 'buffer.json')) ? loadBuffer(d) : null,
  };
}
