#!/usr/bin/env node
// Bundles the edge agent into one ESM file for devices: `npm run build:edge` → dist/edgekd-agent.mjs
// Native addons stay external (their .node binaries cannot be bundled); install them next to the
// bundle with `npm install onnxruntime-node better-sqlite3` on the device (see deploy/edge/README.md).
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { outfile: { type: 'string' }, minify: { type: 'boolean' } } });
const outfile = resolve(values.outfile ?? resolve(root, 'dist/edgekd-agent.mjs'));

const result = await build({
  entryPoints: [resolve(root, 'edge/cli/agent-entry.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: Boolean(values.minify),
  sourcemap: 'linked',
  external: ['onnxruntime-node', 'better-sqlite3'],
  // Bundled CommonJS dependencies (mqtt, pino) call require(); ESM output has none without this.
  banner: { js: "import { createRequire as __edgekdCreateRequire } from 'node:module'; const require = __edgekdCreateRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
console.log(JSON.stringify({ outfile, bytes, inputs: Object.keys(result.metafile.inputs).length }));
