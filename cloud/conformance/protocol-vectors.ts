import { createHash, createPrivateKey } from 'node:crypto';
import { canonicalJson, keyIdOf, rawPublicKey, signedBytes, SIGNATURE_CONTEXT, signManifest, trustedKeyEntry, type ModelPackage, type SigningKey, type TrustedKeys } from '../../shared/package';
import { encode, protocolJsonSchemaFiles, type ChunkHeader, type Offer } from '../../shared/protocol';
import { chunkHashes, conformanceModel, conformancePackage, mismatchModel, offerFor, signWithOtherKey, tamperManifest } from './packages';

/**
 * Everything published under docs/protocol/ that is computed, not written: the JSON Schemas and
 * the test vectors (manifest, chunked model, offer sequence). Deterministic: fixed keys (from
 * published seeds; TEST KEYS, never to be trusted by a real device), fixed times, seeded models,
 * and Ed25519 signatures are deterministic. `write-protocol-docs.ts` writes them; a test fails
 * when the files in the repository differ from what this module produces.
 */
const VECTOR_TIME = new Date('2026-12-01T00:00:00.000Z');
const CHUNK_BYTES = 2048;

function keyFromSeed(label: string): { key: SigningKey; seedHex: string } {
  const seed = createHash('sha256').update(label).digest();
  // PKCS#8 wrapping of a raw 32-byte Ed25519 private key (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const publicKeyRaw = rawPublicKey(privateKey);
  return { key: { keyId: keyIdOf(publicKeyRaw), privateKey, publicKeyRaw }, seedHex: seed.toString('hex') };
}

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function manifestVector(pkg: ModelPackage, signer: { key: SigningKey; seedHex: string }, other: SigningKey, trusted: TrustedKeys): unknown {
  const canonical = canonicalJson(pkg.manifest);
  const text = JSON.stringify(pkg.manifest);
  // The same manifest as another serializer might write it: other key order, spacing and number spelling.
  const respelled = JSON.stringify(Object.fromEntries(Object.entries(pkg.manifest).reverse()), null, 1)
    .replace(/: 3\.2e-7/g, ': 3.2E-07')
    .replace(/: 100000000000000000000/g, ': 1e+20');
  const tampered = tamperManifest({ manifest: structuredClone(pkg.manifest) } as unknown as Offer).manifest;
  const otherSig = signManifest(pkg.manifest, other);
  const short = Buffer.from(pkg.signature.signature, 'base64').subarray(0, 63).toString('base64');
  return {
    description:
      'A signed manifest with the numbers and characters serializers disagree on. signedBytes = UTF-8 of signatureContext + canonical (RFC 8785). The key is a TEST KEY derived from a published seed: never trust it on a real device. Each variant gives the manifest as JSON text (parse it, then canonicalise) and a signature document, and the outcome a verifier must reach against trustedKeys at verifyAt.',
    signatureContext: SIGNATURE_CONTEXT,
    privateKeySeedHex: signer.seedHex,
    publicKey: b64(signer.key.publicKeyRaw),
    keyId: signer.key.keyId,
    trustedKeys: trusted,
    verifyAt: VECTOR_TIME.toISOString(),
    manifest: pkg.manifest,
    canonical,
    signedBytesSha256: createHash('sha256').update(signedBytes(pkg.manifest)).digest('hex'),
    signature: pkg.signature,
    modelSha256: pkg.manifest.model.sha256,
    variants: [
      { name: 'as-signed', manifestJson: text, signature: pkg.signature, expect: 'ok' },
      { name: 'reformatted-and-respelled-numbers', manifestJson: respelled, signature: pkg.signature, expect: 'ok' },
      { name: 'label-changed-after-signing', manifestJson: JSON.stringify(tampered), signature: pkg.signature, expect: 'EDGEKD_SIGNATURE_INVALID' },
      { name: 'signature-truncated-to-63-bytes', manifestJson: text, signature: { ...pkg.signature, signature: short }, expect: 'EDGEKD_SIGNATURE_INVALID' },
      { name: 'signed-by-an-untrusted-key', manifestJson: text, signature: otherSig, expect: 'EDGEKD_KEY_UNTRUSTED' },
      { name: 'version-zero-fails-the-schema', manifestJson: JSON.stringify({ ...pkg.manifest, version: 0 }), signature: pkg.signature, expect: 'EDGEKD_PACKAGE_INVALID' },
    ],
  };
}

function chunkVector(pkg: ModelPackage): unknown {
  const deviceId = 'vector-device';
  const deploymentId = 'vector-d1';
  const hashes = chunkHashes(pkg.model, CHUNK_BYTES);
  const frame = (h: ChunkHeader, data: Uint8Array): string => b64(encode('chunkResponse', deviceId, { header: h, data }).payload);
  const base = { schema: 'edgekd.chunk/1' as const, deploymentId, sha256: pkg.manifest.model.sha256 };
  const frames = hashes.map((chunkSha256, index) => {
    const header: ChunkHeader = { ...base, requestId: `req-${index}`, index, offset: index * CHUNK_BYTES, chunkSha256 };
    return { index, header, frameBase64: frame(header, pkg.model.subarray(index * CHUNK_BYTES, (index + 1) * CHUNK_BYTES)) };
  });
  const errorHeader: ChunkHeader = { ...base, requestId: 'req-busy', index: 1, offset: 0, error: { code: 'EDGEKD_RATE_LIMITED', message: 'bandwidth cap' }, retryAfterMs: 500 };
  const finalHeader: ChunkHeader = { ...base, requestId: 'req-gone', index: 1, offset: 0, error: { code: 'EDGEKD_NOT_FOUND', message: 'unknown deployment' } };
  const f0 = Buffer.from(frames[0]!.frameBase64, 'base64');
  const corrupt = Buffer.from(f0);
  corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0x01;
  const badMagic = Buffer.from(f0);
  badMagic.write('EKC2', 0, 'ascii');
  const longHeader = Buffer.from(f0);
  longHeader.writeUInt32BE(f0.length, 4);
  return {
    description:
      'A model file cut into chunkBytes-sized chunks and the chunk/res frames that carry them: "EKC1", uint32 big-endian header length H, H bytes of UTF-8 JSON header, then the chunk bytes. badFrames say what a device must conclude: EDGEKD_CHUNK_INVALID (discard, ask again) or EDGEKD_MESSAGE_INVALID (drop the message).',
    deviceId,
    topic: `edgekd/v1/devices/${deviceId}/chunk/res`,
    modelBase64: b64(pkg.model),
    sizeBytes: pkg.model.length,
    sha256: pkg.manifest.model.sha256,
    chunkBytes: CHUNK_BYTES,
    chunkSha256: hashes,
    frames,
    errorFrames: [
      { name: 'retry-after', header: errorHeader, frameBase64: frame(errorHeader, new Uint8Array(0)), expect: 'ask for the same index again after retryAfterMs' },
      { name: 'final', header: finalHeader, frameBase64: frame(finalHeader, new Uint8Array(0)), expect: 'the deployment fails at downloading with EDGEKD_NOT_FOUND' },
    ],
    badFrames: [
      { name: 'chunk-bytes-altered', frameBase64: b64(corrupt), expect: 'EDGEKD_CHUNK_INVALID' },
      { name: 'wrong-magic', frameBase64: b64(badMagic), expect: 'EDGEKD_MESSAGE_INVALID' },
      { name: 'header-length-past-the-end', frameBase64: b64(longHeader), expect: 'EDGEKD_MESSAGE_INVALID' },
      { name: 'shorter-than-the-prefix', frameBase64: b64(f0.subarray(0, 6)), expect: 'EDGEKD_MESSAGE_INVALID' },
    ],
  };
}

function offersVector(v1: ModelPackage, v2: ModelPackage, other: SigningKey, trusted: TrustedKeys): unknown {
  const issuedAt = VECTOR_TIME.toISOString();
  const offer = (pkg: ModelPackage, id: string): Offer => offerFor(pkg, { deploymentId: id, rolloutId: 'vector-rollout', chunkBytes: CHUNK_BYTES, issuedAt });
  const ref = (p: ModelPackage) => ({ name: p.manifest.name, version: p.manifest.version, sha256: p.manifest.model.sha256 });
  const good = ['offered', 'downloading', 'verifying', 'staging', 'warming', 'activating', 'baking', 'committed'];
  const rejected = (code: string) => [{ state: 'rejected', errorCode: code }];
  return {
    description:
      'A sequence of inputs to one device that starts with no model and trusts trustedKeys, and the status reports it must send for each (states in order, with the error code of a terminal failure), plus the model serving afterwards. Model files are in files (base64 by sha256).',
    trustedKeys: trusted,
    verifyAt: issuedAt,
    files: { [v1.manifest.model.sha256]: b64(v1.model), [v2.manifest.model.sha256]: b64(v2.model) },
    steps: [
      { name: 'install-v1', input: { offer: offer(v1, 'vector-d1') }, expect: { reports: good.map((state) => ({ state })), activeModel: ref(v1) } },
      { name: 'tampered-manifest', input: { offer: tamperManifest(offer(v2, 'vector-d2')) }, expect: { reports: rejected('EDGEKD_SIGNATURE_INVALID'), activeModel: ref(v1) } },
      { name: 'untrusted-key', input: { offer: signWithOtherKey(offer(v2, 'vector-d3'), other) }, expect: { reports: rejected('EDGEKD_KEY_UNTRUSTED'), activeModel: ref(v1) } },
      { name: 'offer-disagrees-with-manifest', input: { offer: mismatchModel(offer(v2, 'vector-d4')) }, expect: { reports: rejected('EDGEKD_PACKAGE_INVALID'), activeModel: ref(v1) } },
      { name: 'install-v2', input: { offer: offer(v2, 'vector-d5') }, expect: { reports: good.map((state) => ({ state })), activeModel: ref(v2) } },
      { name: 'downgrade-to-v1', input: { offer: offer(v1, 'vector-d6') }, expect: { reports: rejected('EDGEKD_DOWNGRADE_REJECTED'), activeModel: ref(v2) } },
      {
        name: 'rollback-v2',
        input: { command: { schema: 'edgekd.command/1', type: 'rollback', commandId: 'vector-c1', issuedAt, deploymentId: 'vector-d5' } },
        expect: { reports: [{ state: 'rolled_back', commandId: 'vector-c1' }], activeModel: ref(v1) },
      },
      { name: 'finished-offer-again', input: { offer: offer(v1, 'vector-d1') }, expect: { reports: [], activeModel: ref(v1) } },
      {
        name: 'rollback-unknown',
        input: { command: { schema: 'edgekd.command/1', type: 'rollback', commandId: 'vector-c2', issuedAt, deploymentId: 'vector-never' } },
        expect: { reports: [{ state: 'failed', errorCode: 'EDGEKD_NOT_FOUND', commandId: 'vector-c2' }], activeModel: ref(v1) },
      },
    ],
  };
}

/** Path under docs/protocol/ → file text. */
export function protocolDocFiles(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, text] of protocolJsonSchemaFiles()) out.set(`schemas/${name}`, text);
  const signer = keyFromSeed('edgekd protocol test vector key A (never trust this key)');
  const other = keyFromSeed('edgekd protocol test vector key B (never trust this key)');
  const trusted: TrustedKeys = { schemaVersion: 1, keys: [trustedKeyEntry(signer.key.publicKeyRaw, { comment: 'TEST KEY from a published seed' })] };
  const v1 = conformancePackage(signer.key, 'vector-model', 1, conformanceModel(1), VECTOR_TIME);
  const v2 = conformancePackage(signer.key, 'vector-model', 2, conformanceModel(2), VECTOR_TIME);
  out.set('vectors/manifest.json', json(manifestVector(v1, signer, other.key, trusted)));
  out.set('vectors/chunked-model.json', json(chunkVector(v1)));
  out.set('vectors/offers.json', json(offersVector(v1, v2, other.key, trusted)));
  return out;
}
