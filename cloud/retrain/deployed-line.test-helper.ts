import { join } from 'node:path';
import { loadBuffer, saveBuffer } from '../distill/buffer-file';
import { distillDataFree } from '../distill/distill';
import { tinyStudent, tinyTeacher } from '../distill/tiny-models.test-helper';
import { saveModel } from '../zoo/model-io';
import { degradeBatch } from './degradation';
import { signature } from './fit-degradation';
import { studentCard, TINY_DISTILL } from './student-card.test-helper';
import { createRandom } from '../../shared/random/seeded-random';

/** The tiny models' input geometry (8×8 grey in [-1, 1]). */
export const TINY_GEOMETRY = { height: 8, width: 8, channels: 1, range: [-1, 1] as const };

/**
 * A deployed line for retrain tests (tests only): a BatchNorm teacher and a data-free student with
 * its synthetic buffer saved under `root`, plus the input-statistic means the devices would report
 * for a clean period (`baseline`) and a contrast-reduced one (`field`, contrast `amount`). Both
 * come from the synthetic buffer: a test has no field.
 */
export async function deployedLineWithContrastShift(root: string, amount = 0.4) {
  const teacherDir = join(root, 'teacher');
  await saveModel(tinyTeacher(1), teacherDir, studentCard(3));
  const studentDir = join(root, 'student');
  const first = await distillDataFree({ teacher: tinyTeacher(1), student: tinyStudent(2), method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: TINY_DISTILL });
  await saveModel(tinyStudent(2), studentDir, studentCard(3));
  saveBuffer(studentDir, first.buffer!);
  const buffer = loadBuffer(studentDir);
  const pixels = buffer.gather(Array.from({ length: buffer.size }, (_, i) => i));
  const baseline = signature(pixels, buffer.size, TINY_GEOMETRY, { kind: 'none', amount: 0 }, 1);
  const field = signature(degradeBatch(pixels, buffer.size, { kind: 'contrast', amount }, TINY_GEOMETRY, createRandom(3)), buffer.size, TINY_GEOMETRY, { kind: 'none', amount: 0 }, 1);
  return { teacherDir, studentDir, buffer, baseline, field };
}
