import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { DriftReference } from '../../shared/drift/reference';
import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import type { ModelPackage } from '../../shared/package/build-package';
import type { SigningKey } from '../../shared/package/keys';
import { parseModelManifest, type CalibrationMethod, type Lineage, type PackageRef } from '../../shared/package/manifest';
import { writePackageDir, readPackageDir } from '../../shared/package/package-dir';
import { sha256Hex } from '../../shared/package/verify-package';
import { loadBuffer } from '../distill/buffer-file';
import { teacherSha256 } from '../distill/run-output';
import { evenSubset } from '../data/labelled-split';
import { loadBuiltinDataset } from '../data/builtin-datasets';
import { channelAffine, inputRange, isBuiltinDataset } from '../data/dataset-info';
import { loadModel, readModelCard } from '../zoo/model-io';
import type { ModelCard } from '../zoo/model-card';
import { assertCalibrationSamples, type CalibrationSamples } from './calibrate';
import { driftReferenceFromSynthetic, teacherBatchNormProbe } from './drift-reference';
import { onnxAccuracy } from './evaluate-onnx';
import type { CpuClass } from './cpu-class';
import { DEFAULT_FLOAT_LAYER_RULE, QUANTIZE_ALL } from './layer-precision';
import type { Int8CheckMode } from './int8-latency-check';
import { buildStudentPackage, type StudentPackageResult } from './student-package';
import { studentLayerSketches } from './student-layer-sketches';
import type { QuantTarget } from './qdq-quantize';

/** THE export defaults, one set for `edgekd export`, the export job and the retrain pipeline. */
export const EXPORT_DEFAULTS = { quantize: 'int8', calibration: 'entropy', target: 'cpu', calibrationCount: 512 } as const;

export interface ExportStudentOptions {
  /** An `edgekd distill` output folder: model.json, weights.bin, model-card.json, buffer.json + buffer.bin. */
  studentDir: string;
  /** Package directory, or one `.ekpkg` file when it ends in `.ekpkg`. */
  out: string;
  key: SigningKey;
  quantize?: 'int8' | 'none';
  calibration?: CalibrationMethod;
  target?: QuantTarget | 'both';
  cpuClass?: CpuClass;
  floatLayers?: 'few-input-channels' | 'none';
  int8Check?: Int8CheckMode;
  /** Another saved replay buffer to calibrate on (default: the student folder's). */
  calibrationSamplesDir?: string;
  calibrationCount?: number;
  /** The teacher folder: its weights' sha256 in the lineage, its first BatchNorm statistics in the drift reference. */
  teacherDir?: string;
  name?: string;
  version?: number;
  /** The package this one replaces: a package directory, or its identity. */
  parent?: string | PackageRef;
  /** Evaluate fp32 and int8 on this many real test images (default: all); `false`: no evaluation. */
  evaluate?: number | false;
  layerSketches?: boolean;
  /** A DriftReference to ship instead of the one computed from the synthetic samples. */
  driftReferenceFile?: string;
  /** Which job or run made this package (a lookup key for lineage: see shared/package/manifest.ts). */
  madeBy?: { distillationRunId?: string; exportJobId?: string };
  log?: Logger;
}

export interface ExportedPackage {
  dir: string;
  pkg: ModelPackage;
  result: StudentPackageResult;
}

function packageName(card: ModelCard): string {
  return card.name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'student';
}

function loadCalibration(dir: string, count: number): CalibrationSamples {
  const set = loadBuffer(dir).exportCalibrationSet(count);
  assertCalibrationSamples(set);
  if (set.shape[0] < 1) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', `the replay buffer in ${dir} is empty`);
  return set;
}

/**
 * The one export flow: a distilled student folder → ONNX → int8 QDQ calibrated on the replay
 * buffer's synthetic samples only → drift reference → signed package written to `out` (two
 * artifacts for `target: 'both'`: `out` and `out-tensorrt`). `edgekd export` parses flags into
 * these options; the export job and the retrain pipeline's in-process engine call it directly.
 */
export async function exportStudent(o: ExportStudentOptions): Promise<ExportedPackage[]> {
  const quantize = o.quantize ?? EXPORT_DEFAULTS.quantize;
  const method = o.calibration ?? EXPORT_DEFAULTS.calibration;
  const targetOpt = o.target ?? EXPORT_DEFAULTS.target;
  const card = readModelCard(o.studentDir);
  const model = await loadModel(o.studentDir);
  let teacher: Awaited<ReturnType<typeof loadModel>> | undefined;
  try {
    const calibration = quantize === 'int8' ? loadCalibration(o.calibrationSamplesDir ?? o.studentDir, o.calibrationCount ?? EXPORT_DEFAULTS.calibrationCount) : undefined;

    const lineage: Lineage = { studentArch: card.architecture };
    // Lineage from the distillation's run record (teacher hash, method) when the student has one.
    const recordPath = join(o.studentDir, 'run-record.json');
    if (existsSync(recordPath)) {
      const text = readFileSync(recordPath);
      const rec = parseJson(text, recordPath) as { method?: unknown; seed?: unknown; teacher?: { sha256?: unknown; name?: unknown } };
      lineage.distillationRunId = `${String(rec.method ?? 'distill')}-seed${String(rec.seed ?? '?')}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
      if (typeof rec.teacher?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(rec.teacher.sha256)) lineage.teacherSha256 = rec.teacher.sha256;
      if (typeof rec.teacher?.name === 'string') lineage.teacherName = rec.teacher.name;
    }
    const bufferHeader = join(o.calibrationSamplesDir ?? o.studentDir, 'buffer.json');
    if (existsSync(bufferHeader)) {
      const h = parseJson(readFileSync(bufferHeader), bufferHeader) as { runJobId?: unknown };
      if (typeof h.runJobId === 'string' && !lineage.distillationRunId) lineage.distillationRunId = h.runJobId;
    }
    // The caller that knows which run and job made the package says so: lineage is then a lookup.
    if (o.madeBy?.distillationRunId) lineage.distillationRunId = o.madeBy.distillationRunId;
    if (o.madeBy?.exportJobId) lineage.exportJobId = o.madeBy.exportJobId;
    let version = o.version ?? 1;
    if (o.parent !== undefined) {
      let ref: PackageRef;
      if (typeof o.parent === 'string') {
        const pm = parseModelManifest.parse((await readPackageDir(o.parent)).manifest);
        ref = { name: pm.name, version: pm.version, sha256: pm.model.sha256 };
      } else ref = o.parent;
      lineage.parent = ref;
      if (o.version === undefined) version = ref.version + 1;
      else if (version <= ref.version) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `version ${version} is not greater than the parent's ${ref.version}`);
    }
    let teacherProbe: ReturnType<typeof teacherBatchNormProbe> | undefined;
    if (o.teacherDir) {
      const weights = join(o.teacherDir, 'weights.bin');
      if (!existsSync(weights) || !statSync(weights).isFile()) throw new EdgekdError('EDGEKD_NOT_FOUND', `${o.teacherDir} has no weights.bin`);
      // Same definition as the distillation run record: sha256 over model.json then weights.bin.
      lineage.teacherSha256 = teacherSha256(o.teacherDir);
      // A teacher saved without a card (a bare tfjs folder) still gives its hash and probe.
      if (existsSync(join(o.teacherDir, 'model-card.json'))) lineage.teacherName = readModelCard(o.teacherDir).name;
      teacher = await loadModel(o.teacherDir);
      teacherProbe = teacherBatchNormProbe(teacher);
    }

    const sketch = o.layerSketches ? studentLayerSketches(model) : undefined;
    const n = card.normalization;
    const normalisation = { rawRange: [0, n.rawMax] as [number, number], ...channelAffine(n, card.inputShape[2]) };
    const range = inputRange(n, card.inputShape[2]);
    let evaluate: ((b: Uint8Array) => Promise<number>) | undefined;
    let evaluatedOn: string | undefined;
    if (o.evaluate !== false && isBuiltinDataset(card.dataset.name)) {
      const full = loadBuiltinDataset(card.dataset.name).test;
      const test = evenSubset(full, o.evaluate ?? full.count);
      evaluate = (b) => onnxAccuracy(b, test.images, test.labels, test.shape, { outputName: 'probabilities' });
      evaluatedOn = `${card.dataset.name} test split, ${test.count} images`;
    }
    const targets: QuantTarget[] = targetOpt === 'both' ? ['cpu', 'tensorrt'] : [targetOpt];
    const written: ExportedPackage[] = [];
    for (const target of targets) {
      const dir = target === 'tensorrt' && targets.length > 1 ? o.out.replace(/(\.ekpkg)?$/, '-tensorrt$1') : o.out;
      const info = { name: o.name ?? packageName(card), version, labels: card.classNames, normalisation, lineage };
      const driftFile = o.driftReferenceFile;
      const result = await buildStudentPackage({
        model,
        info,
        key: o.key,
        precision: quantize === 'int8' ? 'int8' : 'fp32',
        target,
        ...(o.cpuClass ? { cpuClass: o.cpuClass } : {}),
        // The tensorrt artifact cannot be timed here: it keeps the rule check whatever was asked.
        ...(o.int8Check && target === 'cpu' ? { int8Check: o.int8Check } : {}),
        ...(o.floatLayers ? { floatLayerRule: o.floatLayers === 'none' ? QUANTIZE_ALL : DEFAULT_FLOAT_LAYER_RULE } : {}),
        ...(calibration ? { calibration: { method, samples: calibration } } : {}),
        ...(teacherProbe || sketch ? { export: { ...(teacherProbe ? { probes: [teacherProbe.probe] } : {}), ...(sketch ? { extraOutputs: sketch.extraOutputs } : {}) } } : {}),
        ...(evaluate ? { evaluate, evaluatedOn } : {}),
        // The drift reference describes the shipped model's outputs on the synthetic samples.
        ...(driftFile
          ? { driftReference: createParser(DriftReference, 'drift reference', 'EDGEKD_INVALID_ARGUMENT').parse(parseJson(readFileSync(driftFile), driftFile, 'EDGEKD_INVALID_ARGUMENT')) }
          : calibration
            ? {
                driftReference: async (bytes: Uint8Array) => ({
                  ...(await driftReferenceFromSynthetic(bytes, calibration, { numClasses: card.numClasses, inputRange: [range.low, range.high], ...(teacherProbe ? { featureStatistics: teacherProbe.features } : {}) })),
                  ...(sketch?.specs.length ? { layerSketches: sketch.specs } : {}),
                }),
              }
            : {}),
      });
      if (dir.endsWith('.ekpkg')) {
        const { encodePackageFile } = await import('../../shared/package/package-file');
        const tmp = `${dir}.tmp-${process.pid}`;
        writeFileSync(tmp, encodePackageFile(result.pkg));
        renameSync(tmp, dir);
      } else await writePackageDir(dir, result.pkg);
      const m = result.pkg.manifest;
      o.log?.info({ dir, sha256: sha256Hex(result.pkg.model), bytes: m.model.size, fp32Bytes: result.fp32.bytes.length, fusion: result.optimized.opCounts }, 'package written');
      written.push({ dir, pkg: result.pkg, result });
    }
    return written;
  } finally {
    model.dispose();
    teacher?.dispose();
  }
}
