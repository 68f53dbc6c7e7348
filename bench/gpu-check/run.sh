#!/usr/bin/env bash
# bench/gpu-check/run.sh — the GPU check as one command (≤ 5 minutes), for a GPU host that received
# this working tree with node_modules. Extra packages the GPU path needs and that are not
# dependencies of edgekd (install them on a machine with the npm registry, then carry node_modules):
#   npm install --no-save webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0
# Exit codes as in gpu-check.ts: 0 passed, 1 mismatch, 2 no GPU backend, 3 over time.
set -u
cd "$(dirname "$0")/../.."
node -v
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"
exec timeout 330 node bin/run-ts.mjs bench/gpu-check/gpu-check.ts "$@"
