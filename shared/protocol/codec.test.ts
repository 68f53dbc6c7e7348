import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../errors';
import { decode, decodeAs, encode, encodeStoredJson, parseTopic, topicFilter, topicFor } from './codec';
import { writeChunkFrame } from './chunk-frame';
import type { Offer, Presence, StatusReport } from './index';

const sha = 'a'.repeat(64);
const ts = '2026-11-28T15:00:00.000Z';

const presence: Presence = {
  schema: 'edgekd.presence/1', deviceId: 'dev-1', state: 'online', bootId: 'b1', bootSeq: 3, sessionSeq: 1, ts,
};
const status: StatusReport = {
  schema: 'edgekd.status/1', deviceId: 'dev-1', bootId: 'b1', seq: 7, idempotencyKey: 'k-7', ts,
  deploymentId: 'dep-1', state: 'downloading', bytesDone: 0, bytesTotal: 100,
};
const offer: Offer = {
  schema: 'edgekd.offer/1', deploymentId: 'dep-1', rolloutId: 'r-1', issuedAt: ts,
  model: { name: 'mnist-student', version: 2, sha256: sha },
  manifest: { anything: 'signed' },
  signature: { algorithm: 'Ed25519', keyId: 'abcd', signature: 'c2ln' },
  delivery: { sizeBytes: 2048, sha256: sha, chunkBytes: 1024, chunkSha256: [sha, sha] },
};

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isEdgekdError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('protocol codec', () => {
  it('round-trips every JSON message kind through encode and decode', () => {
    for (const [kind, msg] of [['presence', presence], ['status', status], ['offer', offer]] as const) {
      const out = encode(kind, 'dev-1', msg as never);
      const back = decode(out.topic, out.payload);
      expect(back).toEqual({ kind, deviceId: 'dev-1', message: msg });
    }
  });

  it('uses the QoS and retained flag of the topic table', () => {
    expect(encode('presence', 'dev-1', presence)).toMatchObject({ qos: 1, retain: true, topic: 'edgekd/v1/devices/dev-1/presence' });
    expect(encode('status', 'dev-1', status)).toMatchObject({ qos: 1, retain: false });
  });

  it('adds MQTT 5 properties only for protocol version 5', () => {
    const cmd = { schema: 'edgekd.command/1', type: 'rebirth', commandId: 'c1', issuedAt: ts } as const;
    expect(encode('command', 'dev-1', cmd).properties).toBeUndefined();
    expect(encode('command', 'dev-1', cmd, { protocolVersion: 5 }).properties).toEqual({ contentType: 'application/json', messageExpiryInterval: 300 });
  });

  it('sends a stored, already validated JSON document exactly as encode would', () => {
    const json = encode('status', 'dev-1', status, { protocolVersion: 5 });
    const stored = encodeStoredJson('status', 'dev-1', JSON.stringify(status), { protocolVersion: 5 });
    expect(stored).toEqual(json);
    expect(() => encodeStoredJson('chunkResponse', 'dev-1', '{}')).toThrow(/not a JSON topic/);
  });

  it('decodes an empty retained payload as a cleared document', () => {
    expect(decode(topicFor('offer', 'dev-1'), new Uint8Array(0))).toEqual({ kind: 'offer', deviceId: 'dev-1', message: null });
    expect(encode('offer', 'dev-1', null).payload.length).toBe(0);
  });

  it('round-trips a binary chunk frame without base64', () => {
    const data = new Uint8Array([1, 2, 3, 250]);
    const header = { schema: 'edgekd.chunk/1', requestId: 'q1', deploymentId: 'dep-1', sha256: sha, index: 0, offset: 0 } as const;
    const out = encode('chunkResponse', 'dev-1', { header, data });
    expect(out.payload.length).toBeLessThan(JSON.stringify(header).length + 8 + data.length + 1);
    const back = decodeAs('chunkResponse', out.topic, out.payload);
    expect(back.header).toEqual(header);
    expect([...back.data]).toEqual([1, 2, 3, 250]);
  });

  it.each([
    ['not JSON', Buffer.from('{oops')],
    ['wrong schema tag', Buffer.from(JSON.stringify({ ...status, schema: 'edgekd.status/9' }))],
    ['missing field', Buffer.from(JSON.stringify({ ...status, seq: undefined }))],
    ['negative sequence', Buffer.from(JSON.stringify({ ...status, seq: -1 }))],
    ['unknown state', Buffer.from(JSON.stringify({ ...status, state: 'exploded' }))],
    ['another device id in the payload', Buffer.from(JSON.stringify({ ...status, deviceId: 'dev-2' }))],
    ['a JSON array', Buffer.from('[]')],
    ['empty payload on a non-retained topic', Buffer.alloc(0)],
  ])('rejects a malformed status report (%s) with EDGEKD_MESSAGE_INVALID', (_name, payload) => {
    expectCode(() => decode(topicFor('status', 'dev-1'), payload), 'EDGEKD_MESSAGE_INVALID');
  });

  it('rejects a chunk frame with a bad prefix or header length', () => {
    const t = topicFor('chunkResponse', 'dev-1');
    expectCode(() => decode(t, Buffer.from('XXXX0000')), 'EDGEKD_MESSAGE_INVALID');
    const bad = writeChunkFrame({ schema: 'edgekd.chunk/1' }, new Uint8Array(2));
    bad.writeUInt32BE(9999, 4);
    expectCode(() => decode(t, bad), 'EDGEKD_MESSAGE_INVALID');
    expectCode(() => decode(t, writeChunkFrame({ schema: 'edgekd.chunk/1' }, new Uint8Array(2))), 'EDGEKD_MESSAGE_INVALID');
  });

  it('rejects an oversized payload with EDGEKD_PAYLOAD_TOO_LARGE before parsing it', () => {
    expectCode(() => decode(topicFor('status', 'dev-1'), Buffer.alloc(65 * 1024, 0x20)), 'EDGEKD_PAYLOAD_TOO_LARGE');
    const small = encode('status', 'dev-1', status).payload;
    expectCode(() => decode(topicFor('status', 'dev-1'), small, { maxBytes: { status: 10 } }), 'EDGEKD_PAYLOAD_TOO_LARGE');
  });

  it('rejects topics outside the v1 table and device ids with wildcards', () => {
    expectCode(() => parseTopic('edgekd/v2/devices/dev-1/status'), 'EDGEKD_MESSAGE_INVALID');
    expectCode(() => parseTopic('edgekd/v1/devices/dev-1/nope'), 'EDGEKD_MESSAGE_INVALID');
    expectCode(() => parseTopic('edgekd/v1/devices/dev-1'), 'EDGEKD_MESSAGE_INVALID');
    expectCode(() => topicFor('status', 'dev/+'), 'EDGEKD_MESSAGE_INVALID');
    expect(parseTopic('edgekd/v1/devices/dev-1/chunk/req')).toEqual({ kind: 'chunkRequest', deviceId: 'dev-1' });
    expect(topicFilter('status')).toBe('edgekd/v1/devices/+/status');
  });

  it('refuses to encode an invalid message', () => {
    expectCode(() => encode('status', 'dev-1', { ...status, seq: 1.5 }), 'EDGEKD_MESSAGE_INVALID');
  });

});
