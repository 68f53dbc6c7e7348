import { Type, type Static } from 'typebox';
import { Id, ModelRef, WireError } from './common';

/**
 * Inference over MQTT (the same contract as the agent's local HTTP endpoint `POST /v1/infer`).
 * The input tensor is either a JSON number array (`data`) or base64 of the little-endian raw
 * tensor bytes (`dataBase64`), exactly one of them. `shape` and `dtype` must match the active
 * model's input as its manifest declares it, or the answer is EDGEKD_INPUT_SHAPE.
 */
export const TensorDType = Type.Union([Type.Literal('float32'), Type.Literal('uint8'), Type.Literal('int8')]);
export type TensorDType = Static<typeof TensorDType>;

export const TensorInput = Type.Object({
  dtype: TensorDType,
  shape: Type.Array(Type.Integer({ minimum: 1, maximum: 1_000_000 }), { minItems: 1, maxItems: 8 }),
  data: Type.Optional(Type.Array(Type.Number(), { maxItems: 4_194_304 })),
  dataBase64: Type.Optional(Type.String({ maxLength: 22_369_622 })),
});
export type TensorInput = Static<typeof TensorInput>;

export const InferenceRequest = Type.Object({
  schema: Type.Literal('edgekd.infer-request/1'),
  requestId: Id,
  input: TensorInput,
  /** How many classes to return, best first (default 5). */
  topK: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  /** Include the full probability vector of the first batch item. */
  includeProbabilities: Type.Optional(Type.Boolean()),
});
export type InferenceRequest = Static<typeof InferenceRequest>;

export const TopKEntry = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  probability: Type.Number(),
  label: Type.Optional(Type.String({ maxLength: 200 })),
});
export type TopKEntry = Static<typeof TopKEntry>;

export const InferenceResult = Type.Object({
  /** One entry list per batch item. */
  topK: Type.Array(Type.Array(TopKEntry)),
  probabilities: Type.Optional(Type.Array(Type.Number())),
  latencyMs: Type.Number({ minimum: 0 }),
  model: ModelRef,
  executionProvider: Type.String({ maxLength: 64 }),
});
export type InferenceResult = Static<typeof InferenceResult>;

export const InferenceResponse = Type.Object({
  schema: Type.Literal('edgekd.infer-response/1'),
  requestId: Id,
  ok: Type.Boolean(),
  result: Type.Optional(InferenceResult),
  error: Type.Optional(WireError),
});
export type InferenceResponse = Static<typeof InferenceResponse>;
