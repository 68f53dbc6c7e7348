import { describe, expect, it } from 'vitest';
import { topicFilter } from '../../../shared/protocol/codec';
import { ingestFilter, ingestFilters, parseIngestGroup, sharedIngestFilters } from './ingest-filters';

describe('ingest filters', () => {
  it('exclusive mode subscribes to the protocol table filters unchanged', () => {
    expect(Object.keys(ingestFilters('exclusive'))).toEqual(['presence', 'heartbeat', 'status', 'drift', 'chunkRequest'].map((k) => topicFilter(k as never)));
  });

  it('shared mode puts only status, drift and heartbeat in the share group', () => {
    expect(ingestFilter('status', 'shared')).toBe('$share/edgekd-ingest/edgekd/v1/devices/+/status');
    expect(ingestFilter('drift', 'shared')).toBe('$share/edgekd-ingest/edgekd/v1/devices/+/drift');
    expect(ingestFilter('heartbeat', 'shared', 'g1')).toBe('$share/g1/edgekd/v1/devices/+/heartbeat');
    // Retained presence is never delivered to a shared subscription; chunk admission is per process.
    expect(ingestFilter('presence', 'shared')).toBe(topicFilter('presence'));
    expect(ingestFilter('chunkRequest', 'shared')).toBe(topicFilter('chunkRequest'));
    expect(Object.values(ingestFilters('shared')).every((o) => o.qos === 1)).toBe(true);
  });

  it('an ingest-only process subscribes to the shareable kinds through the group, nothing else', () => {
    expect(Object.keys(sharedIngestFilters('g2'))).toEqual(['heartbeat', 'status', 'drift'].map((k) => `$share/g2/${topicFilter(k as never)}`));
  });

  it('refuses a share group name that is not a plain token', () => {
    expect(parseIngestGroup('edgekd-ingest.eu_1')).toBe('edgekd-ingest.eu_1');
    for (const bad of ['', 'a/b', 'a+b', '#', 'x'.repeat(65)]) expect(() => parseIngestGroup(bad)).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
  });
});
