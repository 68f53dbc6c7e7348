import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';

/**
 * The committed CIFAR-10 teacher: a ResNet-8 (ResNet-20 would take 15–40 h on this project's CPUs,
 * cloud/zoo/README.md), trained on the official training split minus validation. Its folder,
 * relative to the repository root, and the exact command that trains it (with `--resume` it
 * continues the newest checkpoint, so one command serves a fresh run and an interrupted one).
 */
export const CIFAR10_TEACHER = {
  arch: 'resnet8',
  dir: 'models/teachers/cifar10-resnet8',
  command: 'edgekd teacher train --dataset cifar10 --arch resnet8 --epochs 30 --batch 128 --augment crop-flip --out models/teachers/cifar10-resnet8 --backend wasm --resume',
} as const;

/**
 * Checks that a finished teacher (model.json) is in `dir` and returns `dir`. Otherwise
 * EDGEKD_NOT_FOUND naming what is there (nothing, or only the checkpoint of an unfinished run) and
 * `trainCommand`, the command that trains it.
 */
export function requireFinishedTeacher(dir: string, trainCommand: string = CIFAR10_TEACHER.command): string {
  if (existsSync(join(dir, 'model.json'))) return dir;
  const state = !existsSync(dir) ? 'does not exist' : existsSync(join(dir, 'checkpoint')) ? 'holds only a training checkpoint (the run is unfinished)' : 'has no model.json';
  throw new EdgekdError('EDGEKD_NOT_FOUND', `no teacher: ${dir} ${state}; train it with \`${trainCommand}\`, or pass --teacher DIR`, { details: { dir, command: trainCommand } });
}
