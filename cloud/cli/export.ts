import { existsSync, readFileSync } from 'node:fs';
import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { parseSigningKeyFile, signingKeyFromFile } from '../../shared/package/keys';
import type { CalibrationMethod } from '../../shared/package/manifest';
import { CPU_CLASSES, type CpuClass } from '../export/cpu-class';
import { INT8_CHECK_MODES, type Int8CheckMode } from '../export/int8-latency-check';
import { EXPORT_DEFAULTS, exportStudent } from '../export/export-student';

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
  const quantize = values.quantize ?? EXPORT_DEFAULTS.quantize;
  if (quantize !== 'int8' && quantize !== 'none') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--quantize must be int8 or none, got '${quantize}'`);
  const method = (values.calibration ?? EXPORT_DEFAULTS.calibration) as CalibrationMethod;
  if (!CALIBRATION_METHODS.includes(method)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--calibration must be one of ${CALIBRATION_METHODS.join(', ')}, got '${method}'`);
  const targetFlag = values.target ?? EXPORT_DEFAULTS.target;
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


  const evalLimit = values['eval-limit'] !== undefined ? numberFlag(values['eval-limit'], 'eval-limit', 1, { min: 1 }) : undefined;
  const written = await exportStudent({
    studentDir,
    out,
    key,
    quantize: quantize as 'int8' | 'none',
    calibration: method,
    target: targetFlag as 'cpu' | 'tensorrt' | 'both',
    ...(cpuFlag ? { cpuClass: cpuFlag as CpuClass } : {}),
    ...(int8CheckFlag ? { int8Check: int8CheckFlag as Int8CheckMode } : {}),
    ...(floatFlag ? { floatLayers: floatFlag as 'few-input-channels' | 'none' } : {}),
    ...(values['calibration-samples'] ? { calibrationSamplesDir: values['calibration-samples'] } : {}),
    calibrationCount: numberFlag(values['calibration-count'], 'calibration-count', EXPORT_DEFAULTS.calibrationCount, { min: 1 }),
    ...(values.teacher ? { teacherDir: values.teacher } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(values.version ? { version: numberFlag(values.version, 'version', 1, { min: 1 }) } : {}),
    ...(values.parent ? { parent: values.parent } : {}),
    evaluate: values['skip-eval'] ? false : (evalLimit ?? undefined),
    layerSketches: values['layer-sketches'] === true,
    ...(values['drift-reference'] ? { driftReferenceFile: values['drift-reference'] } : {}),
    log,
  });
  for (const { dir, pkg, result } of written) {
    const m = pkg.manifest;
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
