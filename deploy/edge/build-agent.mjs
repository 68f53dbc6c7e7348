#!/usr/bin/env node
// Bundles the edge agent into one ESM file for devices: `npm run build:edge` → dist/edgekd-agent.mjs
// onnxruntime-node is the one compiled module the agent loads and stays external (its .node binary
// and libonnxruntime cannot be bundled); install it next to the bundle with
// `npm install onnxruntime-node` on the device (see deploy/edge/README.md). SQLite is Node's own
// `node:sqlite`. The JSON line printed at the end lists every import left in the bundle
// (`externals`, Node built-ins apart); deploy/edge/build-agent.test.ts holds it to onnxruntime-node.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { outfile: { type: 'string' }, minify: { type: 'boolean' } } });
const outfile = resolve(values.outfile ?? resolve(root, 'dist/edgekd-agent.mjs'));

// ws (under mqtt.js) tries two optional compiled accelerators inside try/catch and falls back to
// JavaScript without them. The agent never loads them: in the bundle each resolves to a module that
// throws MODULE_NOT_FOUND, so the fallback is taken even where a package happens to be installed.
const leaveOutOptionalNative = {
  name: 'leave-out-optional-native',
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (a) => ({ path: a.path, namespace: 'left-out' }));
    b.onLoad({ filter: /.*/, namespace: 'left-out' }, (a) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`${a.path} is left out of the edge agent bundle`)}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: [resolve(root, 'edge/cli/agent-entry.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: Boolean(values.minify),
  sourcemap: 'linked',
  external: ['onnxruntime-node'],
  plugins: [leaveOutOptionalNative],
  // Bundled CommonJS dependencies (mqtt, pino) call require(); ESM output has none without this.
  banner: { js: "import { createRequire as __edgekdCreateRequire } from 'node:module'; const require = __edgekdCreateRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
// What the bundle still imports at run time, as esbuild resolved it (built-ins aside).
const externals = [
  ...new Set(
    Object.values(result.metafile.outputs)
      .flatMap((o) => o.imports)
      .filter((i) => i.external && !i.path.startsWith('node:') && !builtinModules.includes(i.path))
      .map((i) => i.path),
  ),
].sort();
console.log(JSON.stringify({ outfile, bytes, inputs: Object.keys(result.metafile.inputs).length, externals }));
