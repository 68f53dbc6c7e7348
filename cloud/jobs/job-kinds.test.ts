import { describe, expect, it } from 'vitest';
import { EdgekdError } from '../../shared/errors';
import { exportJobOfPackage, isJobKind, jobParams, jobParamsOrNull, jobResult, parseJobParams, parseJobResult, submitJob } from './job-kinds';
import type { JobRecord } from './job-types';

const exportParams = { studentDir: '/s', keyFile: '/k.json', name: 'lenet-half', version: 2, runId: 'run-1' };
const exportResult = { packageDir: '/p', name: 'lenet-half', version: 2, sha256: 'ab', bytes: 10, metrics: {}, runId: 'run-1', seconds: 1.5 };

function record(kind: string, params: unknown, result: unknown = null, state: JobRecord['state'] = 'succeeded'): JobRecord {
  return { id: `${kind}-1`, kind, state, params, result, error: null, progress: null, attempt: 1, resume: false, cancelRequested: false, owner: null, createdAt: 0, updatedAt: 0, startedAt: null, finishedAt: null };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof EdgekdError ? e.code : 'not an EdgekdError';
  }
  return undefined;
}

describe('job-kind table', () => {
  it('parses valid params of each kind into typed values, keeping extra bookkeeping fields', () => {
    expect(parseJobParams('export', exportParams).version).toBe(2);
    expect(parseJobParams('distill', { teacherPath: '/t', student: 'lenet5-half', method: 'ssdkd', requestedBy: 'x', extra: 1 })).toMatchObject({ student: 'lenet5-half', extra: 1 });
    expect(parseJobParams('teacher-import', { onnxPath: '/a.onnx', outDir: '/o' }).outDir).toBe('/o');
  });

  it('rejects bad params with EDGEKD_JOB_PARAMS_INVALID naming each violation', () => {
    expect(codeOf(() => parseJobParams('export', { ...exportParams, version: 0 }))).toBe('EDGEKD_JOB_PARAMS_INVALID');
    expect(codeOf(() => parseJobParams('export', { ...exportParams, name: 'Bad Name' }))).toBe('EDGEKD_JOB_PARAMS_INVALID');
    expect(codeOf(() => parseJobParams('distill', { teacherPath: '/t', student: 'x' }))).toBe('EDGEKD_JOB_PARAMS_INVALID');
    expect(codeOf(() => parseJobParams('teacher-import', null))).toBe('EDGEKD_JOB_PARAMS_INVALID');
    try {
      parseJobParams('export', { keyFile: '/k' });
    } catch (e) {
      expect((e as EdgekdError).message).toMatch(/studentDir/);
      expect((e as EdgekdError).details?.violations).toEqual(expect.arrayContaining([expect.stringContaining('name')]));
    }
  });

  it('parses results when read and rejects a result that does not match its kind', () => {
    expect(parseJobResult('export', exportResult).packageDir).toBe('/p');
    expect(codeOf(() => parseJobResult('export', { ...exportResult, version: '2' }))).toBe('EDGEKD_JOB_RESULT_INVALID');
    expect(codeOf(() => parseJobResult('distill', { studentDir: '/s' }))).toBe('EDGEKD_JOB_RESULT_INVALID');
    expect(codeOf(() => parseJobResult('teacher-import', {}))).toBe('EDGEKD_JOB_RESULT_INVALID');
  });

  it('reads a stored job by kind: null result until it has one, wrong kind is an error', () => {
    expect(jobResult(record('export', exportParams, exportResult), 'export')?.sha256).toBe('ab');
    expect(jobResult(record('export', exportParams, null, 'running'), 'export')).toBeNull();
    expect(jobParams(record('export', exportParams), 'export').runId).toBe('run-1');
    expect(codeOf(() => jobParams(record('export', exportParams), 'distill'))).toBe('EDGEKD_INVALID_ARGUMENT');
    expect(jobParamsOrNull(record('distill', { student: 3 }), 'distill')).toBeNull();
    expect(isJobKind('export')).toBe(true);
    expect(isJobKind('toString')).toBe(false);
  });

  it('finds the export job that made a package by the job id its manifest names, and nothing for a package that names none', async () => {
    const wanted = { ...record('export', exportParams, exportResult), id: 'export-2' };
    const getter = { get: async (id: string) => { if (id !== 'export-2') throw Object.assign(new Error('no job'), { code: 'EDGEKD_NOT_FOUND' }); return wanted; } };
    const made = { lineage: { exportJobId: 'export-2' }, model: { sha256: exportResult.sha256 } };
    expect((await exportJobOfPackage(getter, made))?.params.runId).toBe('run-1');
    // A package from before manifests named their job is still read: it has no run link.
    expect(await exportJobOfPackage(getter, { lineage: {}, model: { sha256: 'ab' } })).toBeNull();
    expect(await exportJobOfPackage(getter, { lineage: { exportJobId: 'gone' }, model: { sha256: 'ab' } })).toBeNull();
    // A job whose result names other bytes did not make this package.
    expect(await exportJobOfPackage(getter, { ...made, model: { sha256: 'cd' } })).toBeNull();
  });

  it('submitJob passes the kind and params to the runner unchanged', async () => {
    const calls: [string, unknown][] = [];
    await submitJob({ submit: async (kind, params) => (calls.push([kind, params]), record(kind, params, null, 'queued')) }, 'export', exportParams);
    expect(calls).toEqual([['export', exportParams]]);
  });
});
