import { defineConfig } from 'vitest/config';

// One suite for the whole package. Tests that need Mosquitto or PostgreSQL skip themselves
// unless the service answers; with EDGEKD_REQUIRE_SERVICES=1 (set by .ci/run) they fail instead.
export default defineConfig({
  test: {
    include: ['{cloud,edge,shared,test,bench,deploy}/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more parallel files only make the heavy (wasm training, onnxruntime) ones slower.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
