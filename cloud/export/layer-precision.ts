import type { IrGraph } from './onnx-ir';

/**
 * The quantizer's per-layer opt-out: which Conv layers stay fp32 in an int8 package.
 *
 * Measured with onnxruntime-node 1.30 on one thread (AMD EPYC, AVX-512 VNNI; `bench:export`
 * and BENCHMARKS.md): a dense (group = 1) convolution reading few input channels is several times
 * slower as QLinearConv than as the fp32 NCHWc Conv — the int8 kernel's per-call work (NHWC
 * re-layout, im2col with a reduction depth of only Cin·kh·kw, requantization) is not amortised.
 * Batch 64: the 1-channel stems took 3.2–17 ms int8 against 0.1–4.3 ms fp32; lenet5-half's
 * 3 → 8 conv 0.3–1.3 ms against 0.17 ms; from 8 input channels on, or for depthwise convolutions,
 * int8 was as fast or faster. Hence: a dense convolution with fewer than `minInputChannels`
 * input channels stays fp32 (its ReLU with it); everything else is quantized.
 */
export interface FloatLayerRule {
  /** Stable name recorded in the package manifest. */
  readonly name: string;
  /** Dense convolutions with fewer input channels than this stay fp32; 0 quantizes every layer. */
  readonly minInputChannels: number;
  /**
   * When the layers left in int8 carry less than this share of the model's MACs, the whole model
   * stays fp32: the Q/DQ transitions and int8 kernel set-up cost more than the int8 layers save.
   * Measured: LeNet-5-BN and LeNet-5-half keep 15–20 % of their MACs in int8 after the opt-out and
   * still ran 1.05–1.3× slower than fp32 at batch 64; MobileNet-tiny and ResNet-8 keep ≥ 80 % and
   * ran as fast or faster.
   */
  readonly minInt8MacShare: number;
}

export const DEFAULT_FLOAT_LAYER_RULE: FloatLayerRule = { name: 'few-input-channels', minInputChannels: 8, minInt8MacShare: 0.5 };
export const QUANTIZE_ALL: FloatLayerRule = { name: 'none', minInputChannels: 0, minInt8MacShare: 0 };

export interface FloatLayer {
  node: string;
  reason: string;
}

export function floatLayersByRule(g: IrGraph, rule: FloatLayerRule): FloatLayer[] {
  const kept: FloatLayer[] = [];
  for (const n of g.nodes) {
    if (n.floatOnly || n.opType !== 'Conv') continue;
    const w = g.initializers.get(n.inputs[1]!);
    if (!w || w.dims.length !== 4) continue;
    const groupAttr = n.attrs.group;
    const group = groupAttr && 'i' in groupAttr ? Number(groupAttr.i) : 1;
    if (group !== 1) continue;
    const inChannels = w.dims[1]!;
    if (inChannels < rule.minInputChannels) {
      kept.push({ node: n.name, reason: `dense conv with ${inChannels} input channel${inChannels === 1 ? '' : 's'} (< ${rule.minInputChannels})` });
    }
  }
  return kept;
}

export interface Int8Plan {
  floatLayers: FloatLayer[];
  /** Share of the Conv/Gemm MACs that stays in int8 after the opt-out (1 when MACs are unknown). */
  int8MacShare: number;
  /** Why the model stays fp32 as a whole, or null when it is quantized. */
  declined: string | null;
}

/**
 * The per-layer opt-out plus the whole-model check. `macsByLayer` maps tfjs layer names (the
 * `layer` of each node) to MACs per image (`layerMacs` of cloud/zoo).
 */
export function planInt8(g: IrGraph, rule: FloatLayerRule, macsByLayer: ReadonlyMap<string, number>): Int8Plan {
  const floatLayers = floatLayersByRule(g, rule);
  const kept = new Set(floatLayers.map((l) => l.node));
  let total = 0;
  let int8 = 0;
  for (const n of g.nodes) {
    if (n.floatOnly || (n.opType !== 'Conv' && n.opType !== 'Gemm') || !n.layer) continue;
    const m = macsByLayer.get(n.layer) ?? 0;
    total += m;
    if (!kept.has(n.name)) int8 += m;
  }
  const int8MacShare = total > 0 ? int8 / total : 1;
  const declined =
    int8MacShare < rule.minInt8MacShare
      ? `only ${(int8MacShare * 100).toFixed(0)} % of the MACs would run in int8 after the opt-out (rule ${rule.name} needs ≥ ${(rule.minInt8MacShare * 100).toFixed(0)} %): int8 would be slower than fp32`
      : null;
  return { floatLayers, int8MacShare, declined };
}
