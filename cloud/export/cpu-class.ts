import { readFileSync } from 'node:fs';
import type { QuantTarget } from './qdq-quantize';

/**
 * Which integer dot product the target CPU has, because it decides the weight bit width.
 *
 * - `x86-avx2`: x86 without VNNI. onnxruntime multiplies uint8 activations by int8 weights with
 *   VPMADDUBSW, which sums pairs of products into a saturating int16: 255·127·2 overflows, so
 *   weights are 7-bit ([−63, 63], onnxruntime's reduce_range).
 * - `x86-vnni`: AVX-512 VNNI or AVX-VNNI. VPDPBUSD accumulates in int32, nothing saturates:
 *   8-bit weights.
 * - `arm64`: sdot/udot (and i8mm) accumulate in int32: 8-bit weights.
 */
export type CpuClass = 'x86-vnni' | 'x86-avx2' | 'arm64';
export const CPU_CLASSES: readonly CpuClass[] = ['x86-vnni', 'x86-avx2', 'arm64'];

/** Classifies from /proc/cpuinfo text and `process.arch` (injected so it is testable). */
export function classifyCpu(cpuinfo: string, arch: string): CpuClass {
  if (arch === 'arm64') return 'arm64';
  const flags = new Set((cpuinfo.match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
  return flags.has('avx512_vnni') || flags.has('avx_vnni') ? 'x86-vnni' : 'x86-avx2';
}

export function hostCpuClass(): CpuClass {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // No /proc (macOS, Windows): classified as the conservative x86-avx2 unless arm64.
  }
  return classifyCpu(text, process.arch);
}

/** TensorRT computes in int32: always 8-bit. On CPUs, 7-bit only where int16 saturation bites. */
export function weightBitsFor(target: QuantTarget, cpu: CpuClass): 7 | 8 {
  if (target === 'tensorrt') return 8;
  return cpu === 'x86-avx2' ? 7 : 8;
}
