import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { onnxAccuracy } from '../cloud/export/evaluate-onnx';
import { createRandom } from '../shared/random/seeded-random';
import { applyImageShift, type ImageGeometry, type ImageShiftKind } from '../shared/drift/shifts';
import { deployStudentPackage } from './drift-deploy';
import { runControlRetrain, runRetrainLoop, type LoopConfig, type LoopRun } from './drift-loop';

/** One row of `loops` in bench/results: the automatic loop on one shift for one student, beside its control. */
export interface LoopRow {
  student: string;
  shift: string;
  severity: number;
  /** Accuracy on the shifted evaluation pool: deployed v1, the loop's committed model, the control, the teacher. */
  before: number;
  after: number | null;
  control: number | null;
  teacher: number;
  /** The same on the clean evaluation pool. */
  cleanBefore: number;
  cleanAfter: number | null;
  cleanControl: number | null;
  /** (after − before) / (teacher − before); likewise for the control; null without a gap or a model. */
  gapClosed: number | null;
  controlGapClosed: number | null;
  /**
   * (cleanBefore − before) / (teacher − before): the part of the gap that is the student's own loss
   * under the shift. An adaptation that makes the student exactly as good on shifted inputs as on
   * clean ones closes this much; the rest of the gap is the student–teacher gap on clean inputs,
   * which only general improvement (what the control also gets) closes. Null without a gap.
   */
  shiftLossShare: number | null;
  /** Retrain decision to committed model (the pipeline's wall time), minutes. */
  minutesToCommitted: number | null;
  outcome: LoopRun['status'];
  reason: string;
  adaptation: unknown;
  /** The rollout step's summary: mode, and for the fleet canary each wave's gate verdict. */
  rollout: unknown;
  timeline: LoopRun['timeline'];
}

export const LOOP_SHIFTS: ImageShiftKind[] = ['noise', 'blur', 'brightness', 'contrast', 'occlusion'];

/**
 * Runs the automatic loop for every student × shift (severity fixed) on the production path
 * (bench/drift-loop.ts), and for every student one control retrain with the same schedule and no
 * field information. Accuracies are on the benchmark's evaluation pool (labels read only to score);
 * the devices stream the disjoint baseline images.
 */
export async function measureLoops(o: {
  students: string[];
  shifts: ImageShiftKind[];
  severity: number;
  teacher: { dir: string; model: tf.LayersModel };
  config: (studentDir: string) => LoopConfig;
  /** Evaluation pool (clean) and field images, model units, NHWC. */
  pool: { images: Float32Array; labels: Int32Array };
  field: { images: Float32Array; count: number };
  geometry: ImageGeometry;
  seed: number;
  workDir: string;
  control?: boolean;
  log: (m: string) => void;
  onRow?: (rows: LoopRow[]) => void;
}): Promise<LoopRow[]> {
  const shape = [o.geometry.height, o.geometry.width, o.geometry.channels] as const;
  const per = shape[0] * shape[1] * shape[2];
  const shifted = (kind: ImageShiftKind) => {
    const r = createRandom(o.seed + 100 + o.severity);
    const out = new Float32Array(o.pool.images.length);
    for (let i = 0; i < o.pool.labels.length; i++) out.set(applyImageShift(o.pool.images.subarray(i * per, (i + 1) * per), kind, o.severity, o.geometry, r), i * per);
    return out;
  };
  const pools = new Map(o.shifts.map((k) => [k, shifted(k)] as const));
  const teacherAcc = new Map<string, number>();
  for (const [k, x] of pools) teacherAcc.set(k, tfjsAccuracy(o.teacher.model, x, o.pool.labels, shape));
  const rows: LoopRow[] = [];
  for (const studentDir of o.students) {
    const sdir = join(o.workDir, `student-${o.students.indexOf(studentDir)}`);
    mkdirSync(sdir, { recursive: true });
    const deployed = await deployStudentPackage({ studentDir, teacherDir: o.teacher.dir, workDir: sdir });
    const v1 = readFileSync(join(deployed.dir, deployed.manifest.model.file));
    const acc = (bytes: Uint8Array, x: Float32Array) => onnxAccuracy(bytes, x, o.pool.labels, shape, { outputName: 'probabilities' });
    const cleanBefore = await acc(v1, o.pool.images);
    const config = o.config(studentDir);
    let control: { bytes: Uint8Array } | null = null;
    if (o.control !== false) {
      const c = await runControlRetrain({ config, deployed, studentDir, teacherDir: o.teacher.dir, workDir: join(sdir, 'control'), log: o.log });
      control = { bytes: readFileSync(join(c.packageDir, c.manifest.model.file)) };
    }
    const cleanControl = control ? await acc(control.bytes, o.pool.images) : null;
    for (const kind of o.shifts) {
      const x = pools.get(kind)!;
      const before = await acc(v1, x);
      const teacher = teacherAcc.get(kind)!;
      o.log(`loop ${studentDir} ${kind}/${o.severity}: before ${pct(before)}, teacher ${pct(teacher)}`);
      const r = await runRetrainLoop({ config, deployed, studentDir, teacherDir: o.teacher.dir, workDir: join(sdir, kind), field: o.field, geometry: o.geometry, shift: { kind, severity: o.severity }, seed: o.seed, log: o.log });
      const afterBytes = r.status === 'promoted' && r.packageDir && r.manifest ? readFileSync(join(r.packageDir, r.manifest.model.file)) : null;
      const after = afterBytes ? await acc(afterBytes, x) : null;
      const ctl = control ? await acc(control.bytes, x) : null;
      const gap = (v: number | null) => (v === null || teacher <= before ? null : (v - before) / (teacher - before));
      const pipelineMs = r.timeline.steps.reduce((a, s) => a + s.ms, 0);
      const row: LoopRow = {
        student: studentDir,
        shift: kind,
        severity: o.severity,
        before,
        after,
        control: ctl,
        teacher,
        cleanBefore,
        cleanAfter: afterBytes ? await acc(afterBytes, o.pool.images) : null,
        cleanControl,
        gapClosed: gap(after),
        controlGapClosed: gap(ctl),
        shiftLossShare: gap(cleanBefore),
        minutesToCommitted: afterBytes ? pipelineMs / 60_000 : null,
        outcome: r.status,
        reason: r.reason,
        adaptation: r.run?.steps.find((s) => s.name === 'distill')?.summary ?? null,
        rollout: r.run?.steps.find((s) => s.name === 'rollout')?.summary ?? null,
        timeline: r.timeline,
      };
      rows.push(row);
      o.log(
        `loop ${kind}/${o.severity}: ${r.status}; before ${pct(before)} → after ${pct(after)} (control ${pct(ctl)}), teacher ${pct(teacher)}; gap closed ${fmt(row.gapClosed)} (control ${fmt(row.controlGapClosed)}); clean ${pct(cleanBefore)} → ${pct(row.cleanAfter)} (control ${pct(cleanControl)}); decision → committed ${row.minutesToCommitted?.toFixed(2) ?? 'n/a'} min`,
      );
      o.onRow?.(rows);
    }
  }
  return rows;
}

function tfjsAccuracy(model: tf.LayersModel, images: Float32Array, labels: Int32Array, shape: readonly [number, number, number]): number {
  const per = shape[0] * shape[1] * shape[2];
  let ok = 0;
  for (let i = 0; i < labels.length; i += 500) {
    const n = Math.min(500, labels.length - i);
    const pred = tf.tidy(() => (model.predict(tf.tensor4d(images.subarray(i * per, (i + n) * per), [n, ...shape])) as tf.Tensor).argMax(-1).dataSync());
    for (let j = 0; j < n; j++) if (pred[j] === labels[i + j]) ok++;
  }
  return ok / labels.length;
}

/** The `loops` table for BENCHMARKS.md, with the goals checked against the rows measured. */
export function loopsMarkdown(rows: LoopRow[]): string {
  const p = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  const table = [
    '| student | shift | adaptation | before | after | control | teacher | gapClosed | controlGapClosed | shift-loss share | clean before → after (control) | rollout (canary shadow agreement / confidence shift / class-histogram improvement per wave) | decision → committed |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.student.split('/').slice(-1)[0]} | ${r.shift}/${r.severity} | ${adaptationCell(r.adaptation)} | ${p(r.before)} | ${p(r.after)} | ${p(r.control)} | ${p(r.teacher)} | ${fmt(r.gapClosed)} | ${fmt(r.controlGapClosed)} | ${fmt(r.shiftLossShare ?? null)} | ${p(r.cleanBefore)} → ${p(r.cleanAfter)} (${p(r.cleanControl)}) | ${rolloutCell(r)} | ${r.minutesToCommitted === null ? r.outcome : `${r.minutesToCommitted.toFixed(2)} min`} |`),
  ];
  // Goals per student, as the issue states them: ≥ 0.5 of the gap on ≥ 4 of 5 shifts, and on those
  // shifts a margin of ≥ 0.25 over the control; clean accuracy within 1 point; committed in < 5 min.
  const students = [...new Set(rows.map((r) => r.student))];
  const perStudent = students.map((s) => {
    const mine = rows.filter((r) => r.student === s);
    const met = mine.filter((r) => r.gapClosed !== null && r.gapClosed >= 0.5);
    const margin = met.filter((r) => r.controlGapClosed !== null && r.gapClosed! - r.controlGapClosed >= 0.25);
    const clean = mine.filter((r) => r.cleanAfter !== null && r.cleanAfter >= r.cleanBefore - 0.01);
    const fast = mine.filter((r) => r.minutesToCommitted !== null && r.minutesToCommitted < 5);
    const name = s.split('/').slice(-1)[0];
    const list = (xs: LoopRow[]) => (xs.length ? ` (${xs.map((r) => r.shift).join(', ')})` : '');
    return `${name}: gapClosed ≥ 0.5 on ${met.length} of ${mine.length} shifts${list(met)} (goal ≥ 4 of 5: ${met.length >= 4 ? 'met' : 'not met'}); of those, ≥ 0.25 above the control on ${margin.length}${list(margin)}; clean accuracy within 1 point on ${clean.length} of ${mine.length}${list(clean)}; decision → committed under 5 min on ${fast.length} of ${mine.length}`;
  });
  const goals = perStudent;
  const share = `Shift-loss share = (clean before − before) / (teacher − before): the part of the gap that is the student's own loss under the shift. A student made exactly as good on the shifted pool as on the clean one closes that much; the rest is the student–teacher gap on clean inputs, which the control's extra training closes as well. Where the share is below 0.25, a margin of 0.25 over the control needs the adapted student to beat its own clean accuracy on shifted inputs.`;
  return [...table, '', `Goals on the rows measured (single seed, no interval: not claims). ${goals.join('. ')}.`, '', share].join('\n');
}

/** What the retrain did: the fitted degradation of a field imitation, the BatchNorm re-estimation, or the re-distillation. */
function adaptationCell(a: unknown): string {
  const s = a as { adaptation?: string; degradation?: { kind: string; amount: number } } | null;
  if (!s) return 'n/a';
  if (s.adaptation === 'field-imitation' && s.degradation) return `imitation (${s.degradation.kind} ${s.degradation.amount})`;
  return s.adaptation ?? 'redistill';
}

/** `promoted` / `rolled-back` with each wave's shadow agreement, confidence shift and (drift-repair gate) class-histogram improvement, or the direct install. */
function rolloutCell(r: LoopRow): string {
  const s = r.rollout as { mode?: string; gates?: Array<{ verdict: { results: Array<{ gate: string; value: number | null }> } | null }> } | null;
  if (!s?.gates) return s?.mode ? `${r.outcome}, ${s.mode}` : r.outcome;
  const waves = s.gates.map((g) => {
    const v = (name: string) => g.verdict?.results.find((x) => x.gate === name)?.value;
    const repair = v('driftRepair');
    return `${v('shadowAgreement')?.toFixed(2) ?? 'n/a'}/${v('confidenceShift')?.toFixed(2) ?? 'n/a'}${repair === undefined ? '' : `/${repair === null ? 'n/a' : repair.toFixed(3)}`}`;
  });
  return `${r.outcome} (${waves.join(', ')})`;
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
const fmt = (v: number | null) => (v === null ? 'n/a' : v.toFixed(2));
