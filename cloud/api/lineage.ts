import type { JobRecord } from '../jobs/job-types';
import type { DriftRecord, LineageEdge, LineageGraph, LineageNode, ModelPackage, Rollout, Teacher } from './schemas';

/**
 * The lineage graph the console draws: teacher → run → student → int8 package → rollouts, and
 * drift alarm → retrain run. Built from what each component records (teacher catalog, run jobs,
 * package manifests, rollouts, retrain history); a link is drawn only when both ends exist.
 */
export function buildLineage(input: {
  teachers: readonly Teacher[];
  runs: readonly JobRecord[];
  packages: readonly ModelPackage[];
  rollouts: readonly Rollout[];
  retrains: readonly DriftRecord[];
}): LineageGraph {
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  const add = (n: LineageNode): void => void nodes.set(n.id, n);
  const link = (from: string, to: string, label: string): void => {
    if (nodes.has(from) && nodes.has(to) && !edges.some((e) => e.from === from && e.to === to)) edges.push({ from, to, label });
  };
  for (const t of input.teachers) add({ id: `teacher:${t.id}`, kind: 'teacher', label: t.name, state: t.status, at: t.createdAt });
  for (const r of input.runs) {
    const p = (r.params ?? {}) as Record<string, unknown>;
    add({ id: `run:${r.id}`, kind: 'run', label: `${String(p.method ?? 'run')} → ${String(p.student ?? '?')}`, state: r.state, at: r.createdAt });
    if (r.state === 'succeeded') add({ id: `student:${r.id}`, kind: 'student', label: `${String(p.student ?? 'student')} (fp32)`, at: r.finishedAt ?? undefined });
  }
  for (const pkg of input.packages) add({ id: `package:${pkg.id}`, kind: 'package', label: `${pkg.name} v${pkg.version} (${pkg.precision})`, at: pkg.createdAt });
  for (const ro of input.rollouts) add({ id: `rollout:${ro.id}`, kind: 'rollout', label: `rollout ${ro.id.slice(0, 8)}`, state: ro.status, at: ro.createdAt });
  for (const rt of input.retrains) {
    const alarm = typeof rt.alarmId === 'string' ? rt.alarmId : rt.id;
    add({ id: `drift-alarm:${alarm}`, kind: 'drift-alarm', label: `drift ${String(rt.cohort ?? '')}`.trim(), state: typeof rt.state === 'string' ? rt.state : undefined });
  }

  for (const r of input.runs) {
    const p = (r.params ?? {}) as Record<string, unknown>;
    if (typeof p.teacherId === 'string') link(`teacher:${p.teacherId}`, `run:${r.id}`, 'distilled by');
    link(`run:${r.id}`, `student:${r.id}`, 'trained');
  }
  for (const pkg of input.packages) {
    if (pkg.runId) link(`student:${pkg.runId}`, `package:${pkg.id}`, 'exported + int8');
    if (pkg.parentId) link(`package:${pkg.parentId}`, `package:${pkg.id}`, 'parent of');
  }
  for (const ro of input.rollouts) {
    const pkgId = (ro.packageId ?? (ro.spec as { packageId?: unknown } | undefined)?.packageId) as string | undefined;
    if (pkgId) link(`package:${pkgId}`, `rollout:${ro.id}`, 'rolled out');
  }
  for (const rt of input.retrains) {
    const alarm = typeof rt.alarmId === 'string' ? rt.alarmId : rt.id;
    if (typeof rt.runId === 'string') link(`drift-alarm:${alarm}`, `run:${rt.runId}`, 'triggered retrain');
  }
  return { nodes: [...nodes.values()], edges };
}
