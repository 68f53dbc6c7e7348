import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log/logger';
import { registerConvGradKernels } from './register-kernels';
import { registerWasmSpeedups } from './wasm-speedups';
import { registerBatchNormGradients } from './batchnorm-gradients';

export type ComputeBackend = 'tensorflow' | 'wasm' | 'cpu';
export const COMPUTE_BACKENDS: readonly ComputeBackend[] = ['tensorflow', 'wasm', 'cpu'];

export interface ComputeChoice {
  /** The tfjs backend now active: 'tensorflow', 'wasm' or 'cpu'. */
  backend: ComputeBackend;
  /** Why this one was chosen (forced, or what was tried first and failed). */
  reason: string;
  /** wasm only: whether the SIMD build runs. */
  simd?: boolean;
  /** tensorflow only: the npm package that provides it. */
  package?: string;
}

export interface InitComputeOptions {
  /** Forces a backend; otherwise EDGEKD_BACKEND, otherwise tensorflow → wasm. */
  backend?: ComputeBackend;
  logger?: Logger;
  /** Defaults to process.env; only EDGEKD_BACKEND is read. */
  env?: Record<string, string | undefined>;
  /** How optional packages are loaded; injectable so a test can simulate tfjs-node. */
  importOptional?: (name: string) => Promise<unknown>;
  /**
   * wasm only: also replace Tile and leading-axis Sum with the faster versions of
   * wasm-speedups.ts and use the leaner BatchNorm gradients of batchnorm-gradients.ts (default
   * true; false exists to measure their effect). Once registered in a thread they stay.
   */
  wasmSpeedups?: boolean;
}

/** Native TensorFlow bindings, best first. Never dependencies: a user installs one on purpose. */
const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

// A variable specifier keeps bundlers and tsc from resolving packages that are not installed.
const defaultImport = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);

function parseBackend(value: string, source: string): ComputeBackend {
  if ((COMPUTE_BACKENDS as readonly string[]).includes(value)) return value as ComputeBackend;
  throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${source}=${value} is not a compute backend; use one of ${COMPUTE_BACKENDS.join(', ')}`);
}

async function loadTensorflow(importOptional: (name: string) => Promise<unknown>): Promise<{ ok: true; pkg: string } | { ok: false; why: string }> {
  const failures: string[] = [];
  for (const pkg of TENSORFLOW_PACKAGES) {
    try {
      await importOptional(pkg);
      if (tf.engine().registryFactory['tensorflow']) return { ok: true, pkg };
      failures.push(`${pkg} loaded but registered no 'tensorflow' backend (a second copy of @tensorflow/tfjs-core?)`);
    } catch (err) {
      const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
      failures.push(`${pkg}: ${/Cannot find (package|module)/.test(msg ?? '') ? 'not installed' : msg}`);
    }
  }
  return { ok: false, why: failures.join('; ') };
}

async function activateWasm(speedups: boolean): Promise<{ simd: boolean }> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // In Node the backend looks for its .wasm files next to the calling script; point it at the
  // package's dist folder instead (the trailing slash makes it a prefix).
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  if (!tf.engine().registry['wasm']) wasm.setWasmPaths(join(dist, '/'));
  registerConvGradKernels('wasm');
  if (speedups) {
    registerWasmSpeedups('wasm');
    registerBatchNormGradients();
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { simd };
}

/**
 * Chooses and activates the tfjs compute backend for this process (or worker thread):
 * `tensorflow` (tfjs-node-gpu, then tfjs-node, only if the user installed one), else `wasm` with
 * the training kernels of this folder registered, with `cpu` as the pure-JS reference.
 * `options.backend` or EDGEKD_BACKEND forces one; a forced backend that cannot load throws
 * EDGEKD_BACKEND_UNAVAILABLE instead of silently running elsewhere. Calling it again is cheap and
 * returns the same choice.
 */
export async function initCompute(options: InitComputeOptions = {}): Promise<ComputeChoice> {
  const env = options.env ?? process.env;
  const log = options.logger ?? createLogger('compute');
  const importOptional = options.importOptional ?? defaultImport;
  const forced: ComputeBackend | undefined =
    options.backend !== undefined
      ? parseBackend(options.backend, 'backend')
      : env.EDGEKD_BACKEND
        ? parseBackend(env.EDGEKD_BACKEND, 'EDGEKD_BACKEND')
        : undefined;
  const forcedBy = options.backend !== undefined ? 'option' : 'EDGEKD_BACKEND';

  let choice: ComputeChoice;
  if (forced === 'cpu') {
    await tf.setBackend('cpu');
    choice = { backend: 'cpu', reason: `forced by ${forcedBy} (pure-JS reference backend, slow)` };
  } else if (forced === 'wasm') {
    choice = { backend: 'wasm', reason: `forced by ${forcedBy}`, ...(await activateWasmOrThrow(options.wasmSpeedups ?? true)) };
  } else {
    const already = tf.getBackend() === 'tensorflow';
    const native = already ? ({ ok: true, pkg: 'already active' } as const) : await loadTensorflow(importOptional);
    if (native.ok) {
      if (!(await tf.setBackend('tensorflow'))) throw new EdgekdError('EDGEKD_BACKEND_UNAVAILABLE', 'the tensorflow backend failed to initialise');
      choice = { backend: 'tensorflow', package: native.pkg, reason: forced ? `forced by ${forcedBy}` : `native TensorFlow found (${native.pkg})` };
    } else if (forced === 'tensorflow') {
      throw new EdgekdError(
        'EDGEKD_BACKEND_UNAVAILABLE',
        `backend tensorflow was forced by ${forcedBy} but cannot be loaded (${native.why}); install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu (see cloud/compute/README.md)`,
      );
    } else {
      choice = { backend: 'wasm', reason: `no native TensorFlow (${native.why}); wasm with edgekd training kernels`, ...(await activateWasmOrThrow(options.wasmSpeedups ?? true)) };
    }
  }
  log.info({ backend: choice.backend, reason: choice.reason, simd: choice.simd }, `compute backend: ${choice.backend}`);
  return choice;
}

async function activateWasmOrThrow(speedups: boolean): Promise<{ simd: boolean }> {
  try {
    return await activateWasm(speedups);
  } catch (err) {
    throw new EdgekdError('EDGEKD_BACKEND_UNAVAILABLE', `the wasm backend failed to start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

