import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import type { ModelManifest } from '../../shared/package';
import { getDatasetInfo, inputRange, isBuiltinDataset } from '../data/dataset-info';
import { readModelCard } from '../zoo/model-io';
import type { CurrentModel } from './engine-steps';

/**
 * The `CurrentModel` the engine steps warm-start from, for a model line whose deployed package was
 * exported from an `edgekd distill` output folder: the folder gives the student, its replay buffer
 * and (through its model card) the input range and flip invariance the distillation used; the
 * deployed manifest gives the package identity the new version's lineage must point at.
 *
 * The input range comes from the card, not the manifest: the generator must synthesise in the
 * units the student was trained in, and the card is what `edgekd distill` read them from.
 */
export function currentModelFromDistillOutput(studentDir: string, deployed: ModelManifest): CurrentModel {
  for (const f of ['model.json', 'weights.bin', 'model-card.json', 'buffer.json', 'buffer.bin']) {
    if (!existsSync(join(studentDir, f))) {
      throw new EdgekdError('EDGEKD_NOT_FOUND', `${studentDir} is not an edgekd distill output: ${f} is missing (a retrain warm-starts from the student and its replay buffer)`);
    }
  }
  const card = readModelCard(studentDir);
  if (card.classNames.length !== deployed.labels.length) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${studentDir} has ${card.classNames.length} classes but the deployed package ${deployed.name} v${deployed.version} has ${deployed.labels.length} labels`);
  }
  return {
    studentDir,
    bufferDir: studentDir,
    packageName: deployed.name,
    packageVersion: deployed.version,
    packageSha256: deployed.model.sha256,
    labels: deployed.labels,
    normalisation: deployed.input.normalisation,
    inputRange: inputRange(card.normalization, card.inputShape[2]),
    // Same rule as `edgekd distill`: flips are used only where the dataset is known to allow them.
    flipInvariant: isBuiltinDataset(card.dataset.name) ? getDatasetInfo(card.dataset.name).flipInvariant : false,
  };
}
