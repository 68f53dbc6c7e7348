import { describe, expect, it } from 'vitest';
import { topicFilter } from '../../../shared/protocol/codec';
import { ingestFilter, ingestFilters } from './ingest-filters';

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
});
