import { describe, expect, it } from 'vitest';
import { buildLineage } from './lineage';
import { packageNameFor } from './pipeline';
import type { JobRecord } from '../jobs/job-types';

const job = (id: string, state: JobRecord['state'], params: Record<string, unknown>): JobRecord => ({
  id, kind: 'distill', state, params, result: null, error: null, progress: null, attempt: 1, resume: false, cancelRequested: false, owner: null, createdAt: 1, updatedAt: 1, startedAt: 1, finishedAt: 2,
});

describe('lineage graph', () => {
  it('links teacher → run → student → package → rollout, and a drift alarm to its retrain run', () => {
    const g = buildLineage({
      teachers: [{ id: 't1', name: 'teacher', format: 'tfjs', status: 'ready', source: 'bundled', path: '/t', sha256: 'a', createdAt: 1, importJobId: null, info: {} }],
      runs: [job('r1', 'succeeded', { teacherId: 't1', method: 'ssdkd', student: 'lenet5-half' }), job('r2', 'running', { teacherId: 't1', method: 'ssdkd', student: 'lenet5-half' })],
      packages: [
        { id: 'p@1', name: 'p', version: 1, sha256: 'x', bytes: 10, precision: 'int8', createdAt: 3, runId: 'r1', teacherId: 't1', parentId: null, metrics: {} },
        { id: 'p@2', name: 'p', version: 2, sha256: 'y', bytes: 10, precision: 'int8', createdAt: 4, runId: 'r2', teacherId: 't1', parentId: 'p@1', metrics: {} },
      ],
      rollouts: [{ id: 'ro1', status: 'completed', createdAt: 5, updatedAt: 6, packageId: 'p@1' }],
      retrains: [{ id: 'x', alarmId: 'a1', runId: 'r2', cohort: 'default' }],
    });
    const edges = g.edges.map((e) => `${e.from} -> ${e.to}`);
    expect(edges).toEqual(expect.arrayContaining([
      'teacher:t1 -> run:r1', 'run:r1 -> student:r1', 'student:r1 -> package:p@1', 'package:p@1 -> rollout:ro1',
      'package:p@1 -> package:p@2', 'drift-alarm:a1 -> run:r2',
    ]));
    // A run that has not finished has no student yet, so its package link is not drawn.
    expect(g.nodes.some((n) => n.id === 'student:r2')).toBe(false);
    expect(edges).not.toContain('student:r2 -> package:p@2');
  });

  it('derives a valid package name from teacher and student', () => {
    expect(packageNameFor('Fashion MNIST/LeNet', 'lenet5-half')).toBe('fashion-mnist-lenet-lenet5-half');
    expect(packageNameFor(undefined, undefined)).toMatch(/^[a-z0-9][a-z0-9._-]{0,63}$/);
  });
});
