import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { protocolDocFiles } from './protocol-vectors';

/**
 * Writes the generated part of docs/protocol/ (JSON Schemas and test vectors):
 *   node bin/run-ts.mjs cloud/conformance/write-protocol-docs.ts
 * Run it after changing a message schema or the package format; the docs test fails until then.
 */
const root = resolve(dirname(new URL(import.meta.url).pathname), '../../docs/protocol');
for (const [path, text] of protocolDocFiles()) {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote docs/protocol/${path} (${text.length} bytes)`);
}
