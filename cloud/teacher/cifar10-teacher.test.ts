import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR10_TEACHER, requireFinishedTeacher } from './cifar10-teacher';

const root = mkdtempSync(join(tmpdir(), 'edgekd-cifar-teacher-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the committed CIFAR-10 teacher', () => {
  it('is found when its model is there', () => {
    const dir = join(root, 'done');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.json'), '{}');
    expect(requireFinishedTeacher(dir)).toBe(dir);
  });

  it('is a typed error naming the training command when it is missing or unfinished', () => {
    expect(() => requireFinishedTeacher(join(root, 'absent'))).toThrow(expect.objectContaining({ code: 'EDGEKD_NOT_FOUND', message: expect.stringMatching(/does not exist; train it with `edgekd teacher train --dataset cifar10 --arch resnet8 .*--resume`/) }));
    const unfinished = join(root, 'unfinished');
    mkdirSync(join(unfinished, 'checkpoint'), { recursive: true });
    expect(() => requireFinishedTeacher(unfinished)).toThrow(expect.objectContaining({ code: 'EDGEKD_NOT_FOUND', message: expect.stringContaining('only a training checkpoint') }));
    expect(CIFAR10_TEACHER.command).toContain(`--out ${CIFAR10_TEACHER.dir}`);
  });
});
