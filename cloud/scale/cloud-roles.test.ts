import { describe, expect, it } from 'vitest';
import { parseCloudRole, planRole } from './cloud-roles';

describe('cloud roles', () => {
  it('defaults to all and rejects an unknown role with a typed error', () => {
    expect(parseCloudRole(undefined)).toBe('all');
    expect(parseCloudRole('worker')).toBe('worker');
    expect(() => parseCloudRole('leader')).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
  });
  it('starts in each role only what the role owns', () => {
    const shared = { store: 'postgres', externalBroker: true } as const;
    expect(planRole('all', shared)).toEqual({ role: 'all', runsJobs: true, fleet: 'sole', ingestConsumer: false });
    expect(planRole('api', shared)).toEqual({ role: 'api', runsJobs: false, fleet: 'none', ingestConsumer: false });
    expect(planRole('fleet', shared)).toEqual({ role: 'fleet', runsJobs: false, fleet: 'elected', ingestConsumer: false });
    expect(planRole('worker', shared)).toEqual({ role: 'worker', runsJobs: true, fleet: 'none', ingestConsumer: false });
    expect(planRole('ingest', shared)).toEqual({ role: 'ingest', runsJobs: false, fleet: 'none', ingestConsumer: true });
  });
  it('allows only all with the embedded broker or on SQLite, and says why', () => {
    expect(planRole('all', { store: 'sqlite', externalBroker: false })).toMatchObject({ fleet: 'sole', ingestConsumer: false });
    for (const role of ['api', 'fleet', 'worker', 'ingest'] as const) {
      expect(() => planRole(role, { store: 'postgres', externalBroker: false })).toThrow(/embedded broker .*MQTT 3\.1\.1.*--role all/);
      expect(() => planRole(role, { store: 'sqlite', externalBroker: true })).toThrow(expect.objectContaining({ code: 'EDGEKD_ROLE_UNSUPPORTED' }));
    }
  });
});
