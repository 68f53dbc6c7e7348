import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { canonicalJson, signedBytes, verifyPackage, type TrustedKeys } from '../../shared/package';
import { decode } from '../../shared/protocol';
import { protocolDocFiles } from './protocol-vectors';

const root = resolve(__dirname, '../../docs/protocol');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const generated = protocolDocFiles();
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('docs/protocol is what the code generates', () => {
  it.each([...generated.keys()])('%s is up to date (node bin/run-ts.mjs cloud/conformance/write-protocol-docs.ts)', (path) => {
    expect(read(path)).toBe(generated.get(path));
  });
  it('publishes no schema the code no longer has', () => {
    const onDisk = readdirSync(join(root, 'schemas')).map((f) => `schemas/${f}`);
    expect(onDisk.sort()).toEqual([...generated.keys()].filter((k) => k.startsWith('schemas/')).sort());
  });
});

describe('the manifest vector', () => {
  const v = JSON.parse(read('vectors/manifest.json')) as {
    signatureContext: string; manifest: unknown; canonical: string; signedBytesSha256: string; trustedKeys: TrustedKeys; verifyAt: string;
    variants: Array<{ name: string; manifestJson: string; signature: unknown; expect: string }>;
  };
  const model = new Uint8Array(Buffer.from((JSON.parse(read('vectors/chunked-model.json')) as { modelBase64: string }).modelBase64, 'base64'));

  it('states canonical bytes that are RFC 8785 of the manifest and hash to signedBytesSha256', () => {
    expect(canonicalJson(v.manifest)).toBe(v.canonical);
    expect(v.canonical).toContain('"small":3.2e-7');
    expect(v.canonical).toContain('"big":100000000000000000000');
    expect(v.canonical).toContain('"bigger":1e+21');
    expect(sha(Buffer.from(v.signatureContext + v.canonical, 'utf8'))).toBe(v.signedBytesSha256);
    expect(sha(signedBytes(v.manifest))).toBe(v.signedBytesSha256);
  });

  it.each(v.variants.map((x) => [x.name, x] as const))('%s verifies as the vector says', (_name, x) => {
    const r = verifyPackage({ manifest: JSON.parse(x.manifestJson), signature: x.signature, model }, v.trustedKeys, { now: new Date(v.verifyAt) });
    expect(r.ok ? 'ok' : r.code).toBe(x.expect);
  });
});

describe('the chunked-model vector', () => {
  const v = JSON.parse(read('vectors/chunked-model.json')) as {
    topic: string; modelBase64: string; sha256: string; chunkSha256: string[]; chunkBytes: number;
    frames: Array<{ index: number; header: unknown; frameBase64: string }>;
    errorFrames: Array<{ header: unknown; frameBase64: string }>;
    badFrames: Array<{ name: string; frameBase64: string; expect: string }>;
  };

  it('frames decode to their headers and chunks that hash right and reassemble the file', () => {
    const parts: Uint8Array[] = [];
    for (const f of v.frames) {
      const d = decode(v.topic, Buffer.from(f.frameBase64, 'base64'));
      if (d.kind !== 'chunkResponse') throw new Error('not a chunk response');
      expect(d.message.header).toEqual(f.header);
      expect(sha(d.message.data)).toBe(v.chunkSha256[f.index]);
      parts.push(d.message.data);
    }
    expect(sha(Buffer.concat(parts))).toBe(v.sha256);
    expect(Buffer.concat(parts).toString('base64')).toBe(v.modelBase64);
  });

  it('error frames decode to a header with no data', () => {
    for (const f of v.errorFrames) {
      const d = decode(v.topic, Buffer.from(f.frameBase64, 'base64'));
      if (d.kind !== 'chunkResponse') throw new Error('not a chunk response');
      expect(d.message.header).toEqual(f.header);
      expect(d.message.data.length).toBe(0);
    }
  });

  it.each(v.badFrames.map((x) => [x.name, x] as const))('%s is caught', (_name, f) => {
    let outcome: string;
    try {
      const d = decode(v.topic, Buffer.from(f.frameBase64, 'base64'));
      if (d.kind !== 'chunkResponse') throw new Error('not a chunk response');
      outcome = sha(d.message.data) === v.chunkSha256[d.message.header.index] ? 'accepted' : 'EDGEKD_CHUNK_INVALID';
    } catch (e) {
      outcome = (e as { code?: string }).code ?? 'untyped';
    }
    expect(outcome).toBe(f.expect);
  });
});

describe('the published JSON Schemas, read as plain JSON Schema by a generic validator', () => {
  const schema = (name: string) => Compile(JSON.parse(read(`schemas/${name}.schema.json`)) as TSchema);
  const offers = JSON.parse(read('vectors/offers.json')) as { steps: Array<{ input: { offer?: Record<string, unknown>; command?: unknown } }> };
  const chunks = JSON.parse(read('vectors/chunked-model.json')) as { frames: Array<{ header: unknown }>; errorFrames: Array<{ header: unknown }> };

  it('accept every offer, command, manifest and chunk header of the vectors', () => {
    const offer = schema('offer');
    const command = schema('command');
    const manifest = schema('manifest');
    const header = schema('chunk-header');
    for (const s of offers.steps) {
      if (s.input.offer) {
        expect(offer.Check(s.input.offer)).toBe(true);
        expect(manifest.Check(s.input.offer.manifest)).toBe(true);
      }
      if (s.input.command) expect(command.Check(s.input.command)).toBe(true);
    }
    for (const f of [...chunks.frames, ...chunks.errorFrames]) expect(header.Check(f.header)).toBe(true);
  });

  it('refuse what the TypeScript parsers refuse', () => {
    const first = offers.steps[0]!.input.offer!;
    expect(schema('offer').Check({ ...first, deploymentId: '' })).toBe(false);
    expect(schema('manifest').Check({ ...(first.manifest as object), version: 0 })).toBe(false);
    expect(schema('heartbeat').Check({ schema: 'edgekd.heartbeat/1' })).toBe(false);
  });
});
