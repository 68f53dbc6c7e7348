import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { parseJson } from '../../shared/contracts/parse';
import { deserializeModel, serializeModel, MODEL_JSON, WEIGHTS_BIN } from '../zoo/model-io';

/**
 * A training checkpoint: `OUT/checkpoint/` holding the model (layers format), the optimiser's
 * slots (`optimizer.bin`, specs in state.json) and `state.json`. It is written whole into a
 * temporary sibling and swapped in by rename, so a kill at any instant leaves either the previous
 * or the new checkpoint complete. state.json is written last: a directory without it is
 * incomplete and ignored.
 */
type NamedTensor = { name: string; tensor: tf.Tensor };

export const CHECKPOINT_DIR = 'checkpoint';
const STATE = 'state.json';
const OPTIMIZER_BIN = 'optimizer.bin';

/** What must match for a checkpoint to belong to this run. */
export interface RunIdentity {
  readonly arch: string;
  readonly dataset: string;
  readonly seed: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly augmentation: string;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly limitTrain: number | null;
}

export interface EpochRecord {
  readonly event: 'epoch';
  readonly epoch: number;
  readonly steps: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
  readonly testSamples: number;
  /** On datasets with a validation split: its accuracy (the number to watch; test is only reported). */
  readonly validationAccuracy?: number;
  readonly learningRate: number;
  readonly imagesPerSec: number;
  readonly epochSec: number;
  readonly elapsedSec: number;
  readonly at: string;
}

export interface CheckpointState {
  readonly version: 1;
  readonly run: RunIdentity;
  readonly completedEpochs: number;
  readonly globalStep: number;
  readonly elapsedSec: number;
  readonly history: EpochRecord[];
  readonly optimizerSpecs: tf.io.WeightsManifestEntry[];
}

export interface LoadedCheckpoint {
  readonly state: CheckpointState;
  readonly model: tf.LayersModel;
  readonly optimizerWeights: NamedTensor[];
}

export async function writeCheckpoint(outDir: string, model: tf.LayersModel, optimizer: tf.Optimizer, state: Omit<CheckpointState, 'optimizerSpecs' | 'version'>): Promise<void> {
  const tmp = join(outDir, `.checkpoint-tmp-${process.pid}`);
  const final = join(outDir, CHECKPOINT_DIR);
  const old = join(outDir, `.checkpoint-old-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const s = await serializeModel(model);
  writeFileSync(join(tmp, WEIGHTS_BIN), s.weights);
  writeFileSync(join(tmp, MODEL_JSON), s.modelJson);
  const opt = await tf.io.encodeWeights(await optimizer.getWeights());
  writeFileSync(join(tmp, OPTIMIZER_BIN), new Uint8Array(tf.io.CompositeArrayBuffer.join(opt.data)));
  const full: CheckpointState = { version: 1, ...state, optimizerSpecs: opt.specs };
  writeFileSync(join(tmp, STATE), JSON.stringify(full));
  if (existsSync(final)) renameSync(final, old);
  renameSync(tmp, final);
  rmSync(old, { recursive: true, force: true });
}

/** The newest complete checkpoint under `outDir`, or null when there is none. */
export function findCheckpoint(outDir: string): string | null {
  if (!existsSync(outDir)) return null;
  const candidates = [CHECKPOINT_DIR, ...readdirSync(outDir).filter((n) => n.startsWith('.checkpoint-old-') || n.startsWith('.checkpoint-tmp-'))]
    .map((n) => join(outDir, n))
    .filter((d) => existsSync(join(d, STATE)));
  let best: string | null = null;
  let bestEpoch = -1;
  for (const d of candidates) {
    try {
      const e = (JSON.parse(readFileSync(join(d, STATE), 'utf8')) as CheckpointState).completedEpochs;
      if (e > bestEpoch) {
        best = d;
        bestEpoch = e;
      }
    } catch {
      // an unreadable state.json is an incomplete candidate; another may be whole
    }
  }
  return best;
}

export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const state = parseJson(readFileSync(join(dir, STATE)), `checkpoint ${dir}/${STATE}`, 'EDGEKD_CHECKPOINT_INVALID') as CheckpointState;
  if (state?.version !== 1 || !state.run || !Array.isArray(state.optimizerSpecs) || !Number.isInteger(state.completedEpochs)) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `checkpoint ${dir}: state.json is not an edgekd checkpoint`);
  }
  let model: tf.LayersModel;
  try {
    const w = readFileSync(join(dir, WEIGHTS_BIN));
    model = await deserializeModel({ modelJson: readFileSync(join(dir, MODEL_JSON), 'utf8'), weights: new Uint8Array(w.buffer, w.byteOffset, w.byteLength) }, `checkpoint ${dir}`);
  } catch (e) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `checkpoint ${dir}: model unreadable (${(e as Error).message})`, { cause: e });
  }
  let optimizerWeights: NamedTensor[];
  try {
    const bin = readFileSync(join(dir, OPTIMIZER_BIN));
    const map = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, state.optimizerSpecs);
    optimizerWeights = state.optimizerSpecs.map((s) => ({ name: s.name, tensor: map[s.name]! }));
  } catch (e) {
    model.dispose();
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `checkpoint ${dir}: optimizer state unreadable (${(e as Error).message})`, { cause: e });
  }
  return { state, model, optimizerWeights };
}

/** Throws EDGEKD_CHECKPOINT_INVALID naming every field where the checkpoint's run differs. */
export function assertSameRun(saved: RunIdentity, now: RunIdentity, dir: string): void {
  const diffs = (Object.keys(now) as Array<keyof RunIdentity>)
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((k) => `${k}: checkpoint ${JSON.stringify(saved[k])}, now ${JSON.stringify(now[k])}`);
  if (diffs.length > 0) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `checkpoint ${dir} belongs to another run (${diffs.join('; ')}); use the same flags or another --out`);
  }
}

export function removeCheckpoints(outDir: string): void {
  if (!existsSync(outDir)) return;
  for (const n of readdirSync(outDir)) {
    if (n === CHECKPOINT_DIR || n.startsWith('.checkpoint-old-') || n.startsWith('.checkpoint-tmp-')) rmSync(join(outDir, n), { recursive: true, force: true });
  }
}
