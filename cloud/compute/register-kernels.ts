import * as tf from '@tensorflow/tfjs';
import { convGradKernelConfigs } from './conv-grad-kernels';

/** Marks kernel configs registered by edgekd, so registering twice is a no-op. */
const MARK = Symbol.for('edgekd.compute.kernel');

type MarkedConfig = tf.KernelConfig & { [MARK]?: true };

function isOurs(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName) as MarkedConfig | undefined;
  return k?.[MARK] === true;
}

/**
 * Registers `configs`, replacing whatever the backend had (wasm ships a slow Conv2DBackpropInput,
 * for example). Replacing is done by unregister + register, which avoids tfjs's "already
 * registered" warning. Returns the names that were newly registered.
 */
export function registerKernels(configs: tf.KernelConfig[]): string[] {
  const added: string[] = [];
  for (const config of configs) {
    if (isOurs(config.kernelName, config.backendName)) continue;
    if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
    const marked: MarkedConfig = { ...config, [MARK]: true };
    tf.registerKernel(marked);
    added.push(config.kernelName);
  }
  return added;
}

/** The convolution gradient kernels built from forward convolutions, on `backendName`. */
export function registerConvGradKernels(backendName = 'wasm'): string[] {
  return registerKernels(convGradKernelConfigs(backendName));
}
