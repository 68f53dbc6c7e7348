import { createLogger } from '../../shared/log/logger';
import { createFleetSlice, type FleetSlice, type FleetSliceSpec } from './fleet-agents';

/**
 * A simulation process (forked by fleet.ts). Protocol over the IPC channel:
 *   parent → {type:"start", spec} | {type:"status"} | {type:"reports"} | {type:"stop"}
 *   worker → {type:"ready", count} | {type:"status", status} | {type:"reports", reports} | {type:"stopped"} | {type:"error", message}
 */
const log = createLogger('fleet-sim');
let slice: FleetSlice | null = null;

process.on('message', (m: { type: string; spec?: FleetSliceSpec }) => {
  void (async () => {
    try {
      if (m.type === 'start' && m.spec) {
        slice = createFleetSlice(m.spec, log);
        await slice.start();
        process.send?.({ type: 'ready', count: m.spec.deviceIds.length });
      } else if (m.type === 'reports') {
        process.send?.({ type: 'reports', reports: slice?.reportsWritten() ?? {} });
      } else if (m.type === 'status') {
        process.send?.({ type: 'status', status: slice?.status() ?? null });
      } else if (m.type === 'stop') {
        await slice?.stop();
        process.send?.({ type: 'stopped' }, () => process.exit(0));
      }
    } catch (e) {
      process.send?.({ type: 'error', message: (e as Error).message });
    }
  })();
});
process.on('disconnect', () => {
  void slice?.stop().finally(() => process.exit(0));
});
