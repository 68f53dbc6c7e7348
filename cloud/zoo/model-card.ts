import { Type, type Static } from 'typebox';
import { createParser } from '../../shared/contracts/parse';

/**
 * `model-card.json`, written beside every saved model: what the model is, how it was made and how
 * good it is. A consumer (distillation, export, the console) reads input shape, class names and
 * normalisation from here instead of from the dataset, so the data-free path never opens it.
 */
export const ModelCardNormalization = Type.Union([
  Type.Object({
    kind: Type.Literal('range'),
    low: Type.Number(),
    high: Type.Number(),
    rawMax: Type.Number(),
  }),
  /** `x = (raw / rawMax - mean[c]) / std[c]` (CIFAR-10). */
  Type.Object({
    kind: Type.Literal('per-channel'),
    mean: Type.Array(Type.Number(), { minItems: 1 }),
    std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1 }),
    rawMax: Type.Number(),
  }),
]);

export const ModelCard = Type.Object({
  schemaVersion: Type.Literal(1),
  name: Type.String({ minLength: 1 }),
  architecture: Type.String({ minLength: 1 }),
  /** What the model outputs: raw logits (apply softmax outside) for every zoo model. */
  output: Type.Union([Type.Literal('logits'), Type.Literal('probabilities')]),
  inputShape: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]),
  numClasses: Type.Integer({ minimum: 2 }),
  classNames: Type.Array(Type.String()),
  normalization: ModelCardNormalization,
  dataset: Type.Object({
    name: Type.String(),
    split: Type.String(),
  }),
  /** Measured on the dataset's test split (null when not evaluated, e.g. a fresh student). */
  accuracy: Type.Union([
    Type.Object({ test: Type.Number({ minimum: 0, maximum: 1 }), samples: Type.Integer({ minimum: 0 }) }),
    Type.Null(),
  ]),
  params: Type.Object({ total: Type.Integer({ minimum: 0 }), trainable: Type.Integer({ minimum: 0 }) }),
  /** Multiply-accumulates per image (conv + dense). */
  macs: Type.Integer({ minimum: 0 }),
  training: Type.Object({
    command: Type.String(),
    seed: Type.Integer(),
    epochs: Type.Optional(Type.Integer({ minimum: 0 })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1 })),
    optimizer: Type.Optional(Type.String()),
    augmentation: Type.Optional(Type.String()),
    backend: Type.Optional(Type.String()),
    durationSec: Type.Optional(Type.Number({ minimum: 0 })),
  }),
  createdAt: Type.String(),
  notes: Type.Optional(Type.String()),
});
export type ModelCard = Static<typeof ModelCard>;

export const parseModelCard = createParser(ModelCard, 'model card', 'EDGEKD_MODEL_LOAD_FAILED');

/** A dataset's (read-only) normalisation as the card's plain JSON value. */
export function cardNormalization(
  n: { kind: 'range'; low: number; high: number; rawMax: number } | { kind: 'per-channel'; mean: readonly number[]; std: readonly number[]; rawMax: number },
): Static<typeof ModelCardNormalization> {
  return n.kind === 'range' ? { kind: 'range', low: n.low, high: n.high, rawMax: n.rawMax } : { kind: 'per-channel', mean: [...n.mean], std: [...n.std], rawMax: n.rawMax };
}
