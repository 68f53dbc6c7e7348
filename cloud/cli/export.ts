import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { DriftReference } from '../../shared/drift/reference';
import { EdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { parseSigningKeyFile, signingKeyFromFile } from '../../shared/package/keys';
import { parseModelManifest, type CalibrationMethod, type Lineage } from '../../shared/package/manifest';
import { writePackageDir, readPackageDir } from '../../shared/package/package-dir';
import { sha256Hex } from '../../shared/package/verify-package';
import { loadBuffer } from '../distill/buffer-file';
import { teacherSha256 } from '../distill/run-output';
import { evenSubset } from '../data/labelled-split';
import { loadBuiltinDataset } from '../data/builtin-datasets';
import { channelAffine, inputRange, isBuiltinDataset } from '../data/dataset-info';
import { loadModel, readModelCard } from '../zoo/model-io';
import type { ModelCard } from '../zoo/model-card';
import { assertCalibrationSamples, type CalibrationSamples } from '../export/calibrate';
import { driftReferenceFromSynthetic, teacherBatchNormProbe } from '../export/drift-reference';
import { onnxAccuracy } from '../export/evaluate-onnx';
import { CPU_CLASSES, type CpuClass } from '../export/cpu-class';
import { DEFAULT_FLOAT_LAYER_RULE, QUANTIZE_ALL } from '../export/layer-precision';
import { INT8_CHECK_MODES, type Int8CheckMode } from '../export/int8-latency-check';
import { buildStudentPackage } from '../export/student-package';
import { studentLayerSketches } from '../export/student-layer-sketches';
import type { QuantTarget } from '../export/qdq-quantize';

const HELP = `usage: edgekd export --student DIR --out PKG [--quantize int8|none] [--calibration minmax|percentile|entropy]
                     [--key KEYFILE] [--target cpu|tensorrt|both] [--cpu x86-vnni|x86-avx2|arm64] [--int8-check measure|rules|off] [--calibration-samples DIR] [--calibration-count N]
                     [--teacher DIR] [--name NAME] [--version N] [--parent PKGDIR] [--eval-limit N] [--skip-eval]

Exports a distilled student (a directory written by \`edgekd distill\`: model.json, weights.bin,
model-card.json and the replay buffer buffer.json + buffer.bin) to ONNX, quantizes it to int8 with
static QDQ calibrated on the replay buffer's synthetic samples only, and writes a signed package
directory PKG (model.onnx, manifest.json, manifest.sig), or one .ekpkg file when PKG ends in .ekpkg.

  --quantize Q              int8 (default) or none (fp32 package)
  --calibration M           minmax | percentile | entropy (default entropy)
  --target T                cpu (uint8 activations, fused by onnxruntime's CPU provider; default),
                            tensorrt (symmetric int8), or both (PKG and PKG-tensorrt)
  --cpu C                   the devices' CPU class for the cpu artifact: x86-avx2 (no VNNI: 7-bit
                            weights), x86-vnni or arm64 (8-bit weights); default: this machine's
  --float-layers R          per-layer opt-out: few-input-channels (default on cpu: dense convs with
                            < 8 input channels stay fp32, as measured in bench:export) or none
  --int8-check M            how int8 is confirmed on the cpu target: measure (default: time fp32 and
                            int8 here at batch 1 and 64, ~2 s, ship int8 only if not slower), rules
                            (the MAC-share rule alone; the tensorrt target always uses it) or off
                            (ship int8 whenever --quantize int8)
  --key KEYFILE             signing-key.json from \`edgekd keys generate\` (default: $EDGEKD_SIGNING_KEY)
  --calibration-samples DIR another saved replay buffer (buffer.json + buffer.bin); default: the student DIR
  --calibration-count N     synthetic samples to calibrate on (default 512, class-balanced)
  --teacher DIR             the teacher: its weights' sha256 goes into the lineage and its first
                            BatchNorm statistics into the drift reference (probe outputs in the model)
  --name NAME               package name (default: from the model card)
  --version N               package version (default: the parent's + 1, or 1)
  --parent PKGDIR           the package this one replaces (lineage, version)
  --eval-limit N            evaluate fp32 and int8 on N real test images (default: all)
  --skip-eval               do not evaluate (no accuracy in the manifest)
  --drift-reference FILE    use this DriftReference JSON instead of computing one from the synthetic samples
  --layer-sketches          add per-BatchNorm sketch outputs of the student (channel mean and mean square of
                            each BatchNorm's input, float) and list them in the drift reference, so devices
                            report them and a retrain can re-estimate the student's statistics from the field`;

const CALIBRATION_METHODS: CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

function packageName(card: ModelCard): string {
  return card.name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'student';
}

function loadCalibration(dir: string, count: number): CalibrationSamples {
  const set = loadBuffer(dir).exportCalibrationSet(count);
  assertCalibrationSamples(set);
  if (set.shape[0] < 1) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', `the replay buffer in ${dir} is empty`);
  return set;
}

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      student: { type: 'string' },
      out: { type: 'string' },
      quantize: { type: 'string' },
      calibration: { type: 'string' },
      target: { type: 'string' },
      cpu: { type: 'string' },
      'float-layers': { type: 'string' },
      'int8-check': { type: 'string' },
      key: { type: 'string' },
      'calibration-samples': { type: 'string' },
      'calibration-count': { type: 'string' },
      teacher: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      parent: { type: 'string' },
      'eval-limit': { type: 'string' },
      'skip-eval': { type: 'boolean' },
      'layer-sketches': { type: 'boolean' },
      'drift-reference': { type: 'string' },
    },
    HELP,
  );
  if (help) return 0;
  const log = createLogger('export');
  const studentDir = requireFlag(values.student, 'student');
  const out = requireFlag(values.out, 'out');
  const quantize = values.quantize ?? 'int8';
  if (quantize !== 'int8' && quantize !== 'none') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--quantize must be int8 or none, got '${quantize}'`);
  const method = (values.calibration ?? 'entropy') as CalibrationMethod;
  if (!CALIBRATION_METHODS.includes(method)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--calibration must be one of ${CALIBRATION_METHODS.join(', ')}, got '${method}'`);
  const targetFlag = values.target ?? 'cpu';
  if (!['cpu', 'tensorrt', 'both'].includes(targetFlag)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--target must be cpu, tensorrt or both`);
  const cpuFlag = values.cpu;
  if (cpuFlag !== undefined && !(CPU_CLASSES as readonly string[]).includes(cpuFlag)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--cpu must be one of ${CPU_CLASSES.join(', ')}, got '${cpuFlag}'`);
  const int8CheckFlag = values['int8-check'];
  if (int8CheckFlag !== undefined && !(INT8_CHECK_MODES as readonly string[]).includes(int8CheckFlag)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--int8-check must be one of ${INT8_CHECK_MODES.join(', ')}, got '${int8CheckFlag}'`);
  const floatFlag = values['float-layers'];
  if (floatFlag !== undefined && floatFlag !== 'few-input-channels' && floatFlag !== 'none') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--float-layers must be few-input-channels or none, got '${floatFlag}'`);
  const keyPath = values.key ?? process.env.EDGEKD_SIGNING_KEY;
  if (!keyPath) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'no signing key: pass --key KEYFILE or set EDGEKD_SIGNING_KEY (create one with `edgekd keys generate --out DIR`)');
  if (!existsSync(keyPath)) throw new EdgekdError('EDGEKD_NOT_FOUND', `signing key ${keyPath} does not exist`);
  const key = signingKeyFromFile(parseSigningKeyFile.parse(parseJson(readFileSync(keyPath), keyPath, 'EDGEKD_INVALID_ARGUMENT')));

  const card = readModelCard(studentDir);
  const model = await loadModel(studentDir);
  const count = numberFlag(values['calibration-count'], 'calibration-count', 512, { min: 1 });
  const calibration = quantize === 'int8' ? loadCalibration(values['calibration-samples'] ?? studentDir, count) : undefined;

  const lineage: Lineage = { studentArch: card.architecture };
  // Lineage from the distillation's run record (teacher hash, method) when the student has one.
  const recordPath = join(studentDir, 'run-record.json');
  if (existsSync(recordPath)) {
    const text = readFileSync(recordPath);
    const rec = parseJson(text, recordPath) as { method?: unknown; seed?: unknown; teacher?: { sha256?: unknown; name?: unknown } };
    lineage.distillationRunId = `${String(rec.method ?? 'distill')}-seed${String(rec.seed ?? '?')}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
    if (typeof rec.teacher?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(rec.teacher.sha256)) lineage.teacherSha256 = rec.teacher.sha256;
    if (typeof rec.teacher?.name === 'string') lineage.teacherName = rec.teacher.name;
  }
  const bufferHeader = join(values['calibration-samples'] ?? studentDir, 'buffer.json');
  if (existsSync(bufferHeader)) {
    const h = parseJson(readFileSync(bufferHeader), bufferHeader) as { runJobId?: unknown };
    if (typeof h.runJobId === 'string' && !lineage.distillationRunId) lineage.distillationRunId = h.runJobId;
  }
  let version = values.version ? numberFlag(values.version, 'version', 1, { min: 1 }) : 1;
  if (values.parent) {
    const parent = await readPackageDir(values.parent);
    const pm = parseModelManifest.parse(parent.manifest);
    lineage.parent = { name: pm.name, version: pm.version, sha256: pm.model.sha256 };
    if (!values.version) version = pm.version + 1;
    else if (version <= pm.version) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--version ${version} is not greater than the parent's ${pm.version}`);
  }
  let teacherProbe: ReturnType<typeof teacherBatchNormProbe> | undefined;
  if (values.teacher) {
    const weights = join(values.teacher, 'weights.bin');
    if (!existsSync(weights) || !statSync(weights).isFile()) throw new EdgekdError('EDGEKD_NOT_FOUND', `${values.teacher} has no weights.bin`);
    // Same definition as the distillation run record: sha256 over model.json then weights.bin.
    lineage.teacherSha256 = teacherSha256(values.teacher);
    const tcard = readModelCard(values.teacher);
    lineage.teacherName = tcard.name;
    teacherProbe = teacherBatchNormProbe(await loadModel(values.teacher));
  }

  const sketch = values['layer-sketches'] ? studentLayerSketches(model) : undefined;
  const n = card.normalization;
  const normalisation = { rawRange: [0, n.rawMax] as [number, number], ...channelAffine(n, card.inputShape[2]) };
  const range = inputRange(n, card.inputShape[2]);
  let evaluate: ((b: Uint8Array) => Promise<number>) | undefined;
  let evaluatedOn: string | undefined;
  if (!values['skip-eval'] && isBuiltinDataset(card.dataset.name)) {
    const full = loadBuiltinDataset(card.dataset.name).test;
    const limit = numberFlag(values['eval-limit'], 'eval-limit', full.count, { min: 1 });
    const test = evenSubset(full, limit);
    evaluate = (b) => onnxAccuracy(b, test.images, test.labels, test.shape, { outputName: 'probabilities' });
    evaluatedOn = `${card.dataset.name} test split, ${test.count} images`;
  }
  const targets: QuantTarget[] = targetFlag === 'both' ? ['cpu', 'tensorrt'] : [targetFlag as QuantTarget];
  for (const target of targets) {
    const dir = target === 'tensorrt' && targets.length > 1 ? out.replace(/(\.ekpkg)?$/, '-tensorrt$1') : out;
    const info = { name: values.name ?? packageName(card), version, labels: card.classNames, normalisation, lineage };
    const driftFile = values['drift-reference'];
    const result = await buildStudentPackage({
      model,
      info,
      key,
      precision: quantize === 'int8' ? 'int8' : 'fp32',
      target,
      ...(cpuFlag ? { cpuClass: cpuFlag as CpuClass } : {}),
      // The tensorrt artifact cannot be timed here: it keeps the rule check whatever the flag says.
      ...(int8CheckFlag && target === 'cpu' ? { int8Check: int8CheckFlag as Int8CheckMode } : {}),
      ...(floatFlag ? { floatLayerRule: floatFlag === 'none' ? QUANTIZE_ALL : DEFAULT_FLOAT_LAYER_RULE } : {}),
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
    log.info({ dir, sha256: sha256Hex(result.pkg.model), bytes: m.model.size, fp32Bytes: result.fp32.bytes.length, fusion: result.optimized.opCounts }, 'package written');
    console.log(
      [
        `${dir}: ${m.name} v${m.version}, ${m.quantization.precision}${m.quantization.target ? ` (${m.quantization.target})` : ''}, ${m.model.size} bytes (fp32 ${result.fp32.bytes.length}), signed by ${key.keyId}`,
        m.metrics.fp32Accuracy !== undefined ? `  accuracy: fp32 ${(m.metrics.fp32Accuracy * 100).toFixed(2)}%${m.metrics.int8Accuracy !== undefined ? `, int8 ${(m.metrics.int8Accuracy * 100).toFixed(2)}%` : ''} on ${m.metrics.evaluatedOn}` : '  accuracy: not evaluated',
        `  onnxruntime CPU graph: ${result.optimized.quantizedConvs} QLinearConv, ${result.optimized.floatConvs} float Conv`,
      ].join('\n'),
    );
  }
  return 0;
}
