import { describe, expect, it } from 'vitest';
import { run } from './demo';

describe('edgekd demo --dataset', () => {
  it('refuses an unknown dataset and, for cifar10, a teacher folder without a finished model, naming the command that trains it, before starting anything', async () => {
    await expect(run(['--dataset', 'cifar100'])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(run(['--dataset', 'cifar10', '--teacher', '/nonexistent/cifar-teacher'])).rejects.toMatchObject({
      code: 'EDGEKD_NOT_FOUND',
      message: expect.stringContaining('edgekd teacher train --dataset cifar10 --arch resnet8'),
    });
  });
});
