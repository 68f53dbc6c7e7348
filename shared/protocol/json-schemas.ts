import type { TSchema } from 'typebox';
import { ManifestSignature, ModelManifest, TrustedKeys } from '../package';
import { ChunkHeader } from './messages/chunk';
import { Topics, type TopicKind } from './topics';

/**
 * The protocol's JSON Schemas (draft 2020-12) as published under `docs/protocol/schemas/`, for
 * implementers in other languages. They are generated from the same TypeBox definitions the
 * TypeScript code parses with, never written by hand: `cloud/conformance/write-protocol-docs.ts` writes them
 * and a test fails when the published files differ from what the code would generate.
 */
export const SCHEMA_BASE_URI = 'https://edgekd.dev/protocol/v1/schemas/';

interface SchemaEntry {
  readonly file: string;
  readonly title: string;
  readonly description: string;
  readonly schema: TSchema;
}

const fileOf: Record<TopicKind, string> = {
  presence: 'presence', heartbeat: 'heartbeat', offer: 'offer', status: 'status', drift: 'drift', ack: 'ack',
  chunkRequest: 'chunk-request', chunkResponse: 'chunk-header', command: 'command', inferRequest: 'infer-request', inferResponse: 'infer-response',
};

function entries(): SchemaEntry[] {
  const topicEntries = (Object.keys(Topics) as TopicKind[]).map((k): SchemaEntry => {
    const t = Topics[k];
    const where = t.format === 'chunk-frame' ? `the JSON header of the binary EKC1 frame on \`${t.suffix}\`` : `the payload on \`edgekd/v1/devices/{deviceId}/${t.suffix}\``;
    return { file: fileOf[k], title: `edgekd ${k}`, description: `${t.summary} Schema of ${where}.`, schema: k === 'chunkResponse' ? ChunkHeader : t.schema };
  });
  return [
    ...topicEntries,
    { file: 'manifest', title: 'edgekd model manifest', description: 'ModelManifest: the signed document of a model package (carried verbatim in offer.manifest).', schema: ModelManifest },
    { file: 'manifest-signature', title: 'edgekd manifest signature', description: 'manifest.sig: Ed25519 over "edgekd-manifest-v1\\n" + RFC 8785 canonical JSON of the manifest (carried in offer.signature).', schema: ManifestSignature },
    { file: 'trusted-keys', title: 'edgekd trusted keys', description: 'The trusted-keys list a device is provisioned with.', schema: TrustedKeys },
  ];
}

/** File name → pretty-printed JSON text (with a final newline), in a stable order. */
export function protocolJsonSchemaFiles(): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries()) {
    const doc = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `${SCHEMA_BASE_URI}${e.file}.schema.json`,
      title: e.title,
      description: e.description,
      // TypeBox schemas are plain JSON Schema objects; a JSON round trip drops anything else.
      ...(JSON.parse(JSON.stringify(e.schema)) as Record<string, unknown>),
    };
    out.set(`${e.file}.schema.json`, `${JSON.stringify(doc, null, 2)}\n`);
  }
  return out;
}
