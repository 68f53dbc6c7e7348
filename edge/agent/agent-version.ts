/** Reported in presence and heartbeats; bump with the package version. */
export const AGENT_VERSION = '0.1.0';

/** Highest ai.onnx opset onnxruntime 1.30 loads (checked before download). */
export const MAX_ONNX_OPSET = 23;
