import { describe, expect, it } from 'vitest';
import { openSqlite } from '../../store/sqlite-db';
import { createFleetController } from '../fleet-controller';

describe('shared ingest on an MQTT 3.1.1 link', () => {
  it('is refused with EDGEKD_CONFIG_INVALID before any connection is made', async () => {
    const db = openSqlite(':memory:');
    await expect(createFleetController({ db, brokerUrl: 'mqtt://127.0.0.1:1', protocolVersion: 4, ingest: 'shared' }))
      .rejects.toMatchObject({ code: 'EDGEKD_CONFIG_INVALID' });
    await db.close();
  });
});
