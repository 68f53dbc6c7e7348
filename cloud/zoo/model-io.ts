import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { parseJson } from '../../shared/contracts/parse';
import { parseModelCard, type ModelCard } from './model-card';

/**
 * Saving and loading a tf.LayersModel as a directory in the TensorFlow.js layers format
 * (`model.json` + `weights.bin`, readable by `tf.loadLayersModel` anywhere and by
 * tensorflowjs_converter) with plain @tensorflow/tfjs: `file://` handlers exist only in
 * tfjs-node, so the bytes go through `tf.io.withSaveHandler` / `tf.io.fromMemory` and node:fs.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const MODEL_CARD = 'model-card.json';

/** The layers-format model as bytes: `model.json` text and one weights blob. */
export interface SerializedModel {
  readonly modelJson: string;
  readonly weights: Uint8Array;
}

function joinWeightData(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return tf.io.CompositeArrayBuffer.join(data);
}

/** Serialises a model in memory (for files, workers or the exporter). */
export async function serializeModel(model: tf.LayersModel): Promise<SerializedModel> {
  let out: SerializedModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      out = { modelJson: JSON.stringify(modelJson), weights: new Uint8Array(joinWeightData(artifacts.weightData)) };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!out) throw new EdgekdError('EDGEKD_INTERNAL', 'model.save produced no artifacts');
  return out;
}

/** Rebuilds a model from its serialised form. `what` names the source in errors. */
export async function deserializeModel(s: SerializedModel, what = 'model'): Promise<tf.LayersModel> {
  const json = parseJson(s.modelJson, `${what} ${MODEL_JSON}`, 'EDGEKD_MODEL_LOAD_FAILED') as Partial<tf.io.ModelJSON>;
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `${what}: ${MODEL_JSON} is not a TensorFlow.js layers model (no modelTopology / weightsManifest)`);
  }
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((sum, w) => sum + w.shape.reduce((p, d) => p * d, 1) * bytesPerElement(w.dtype), 0);
  if (expected !== s.weights.byteLength) {
    throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `${what}: ${WEIGHTS_BIN} holds ${s.weights.byteLength} bytes, the manifest describes ${expected}`);
  }
  const weightData = s.weights.buffer.slice(s.weights.byteOffset, s.weights.byteOffset + s.weights.byteLength) as ArrayBuffer;
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format, generatedBy: json.generatedBy }));
  } catch (e) {
    throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `${what}: TensorFlow.js could not rebuild the model: ${(e as Error).message}`, { cause: e });
  }
}

function bytesPerElement(dtype: string): number {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool' || dtype === 'uint8') return 1;
  if (dtype === 'float16' || dtype === 'int16') return 2;
  throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `unsupported weight dtype '${dtype}'`);
}

/** Writes a file by temp name + rename, so a reader never sees half of it. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Saves `model` into `dir` (created if needed): model.json, weights.bin and, when given,
 * model-card.json. Weights go first and model.json last, so a directory with a model.json always
 * has the weights it names.
 */
export async function saveModel(model: tf.LayersModel, dir: string, card?: ModelCard): Promise<void> {
  const s = await serializeModel(model);
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, WEIGHTS_BIN), s.weights);
  if (card) writeAtomic(join(dir, MODEL_CARD), `${JSON.stringify(parseModelCard.parse(card), null, 2)}\n`);
  writeAtomic(join(dir, MODEL_JSON), s.modelJson);
}

function readOrFail(dir: string, file: string): Buffer {
  const path = join(dir, file);
  if (!existsSync(path)) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `${dir} is not a saved model: ${file} is missing`, { details: { dir, file } });
  return readFileSync(path);
}

/** Loads a model saved by `saveModel` (or any single-blob layers-format directory). */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const modelJson = readOrFail(dir, MODEL_JSON).toString('utf8');
  const weights = readOrFail(dir, WEIGHTS_BIN);
  return deserializeModel({ modelJson, weights: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength) }, dir);
}

export function readModelCard(dir: string): ModelCard {
  const text = readOrFail(dir, MODEL_CARD);
  return parseModelCard.parse(parseJson(text, `${dir}/${MODEL_CARD}`, 'EDGEKD_MODEL_LOAD_FAILED'));
}

export function writeModelCard(dir: string, card: ModelCard): void {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, MODEL_CARD), `${JSON.stringify(parseModelCard.parse(card), null, 2)}\n`);
}

/** A teacher as the rest of edgekd sees it: the model and its card. */
export interface LoadedTeacher {
  readonly model: tf.LayersModel;
  readonly card: ModelCard;
  readonly dir: string;
}

/** Loads model and card; the card's input shape must match the model's. */
export async function loadTeacher(dir: string): Promise<LoadedTeacher> {
  const card = readModelCard(dir);
  const model = await loadModel(dir);
  const shape = model.inputs[0]?.shape.slice(1);
  if (!shape || shape.join('x') !== card.inputShape.join('x')) {
    model.dispose();
    throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `${dir}: model input ${shape?.join('x')} does not match the card's ${card.inputShape.join('x')}`);
  }
  return { model, card, dir };
}

