import onnxProto from 'onnx-proto';

/**
 * onnx-proto is a CommonJS module whose exports object is the protobufjs root, so ESM named
 * imports do not resolve at run time; this is the one place that unwraps it.
 */
export const onnx = onnxProto.onnx;
