import { toEdgekdError } from '../../shared/errors';
import type { InferenceRequest, InferenceResponse } from '../../shared/protocol';
import type { ModelRuntime } from '../inference/model-runtime';

/** The reply to an `infer/req` message: the result, or the typed error as the wire carries it (never a throw). */
export async function answerInference(runtime: Pick<ModelRuntime, 'infer'>, req: InferenceRequest): Promise<InferenceResponse> {
  try {
    const opts: { topK?: number; includeProbabilities?: boolean } = {};
    if (req.topK !== undefined) opts.topK = req.topK;
    if (req.includeProbabilities !== undefined) opts.includeProbabilities = req.includeProbabilities;
    return { schema: 'edgekd.infer-response/1', requestId: req.requestId, ok: true, result: await runtime.infer(req.input, opts) };
  } catch (e) {
    const err = toEdgekdError(e);
    return { schema: 'edgekd.infer-response/1', requestId: req.requestId, ok: false, error: { code: err.code, message: err.message, retryable: err.retryable } };
  }
}
