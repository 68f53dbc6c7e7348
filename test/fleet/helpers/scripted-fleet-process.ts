import { startScriptedDevice, type ScriptedDevice } from './scripted-device';

/**
 * Child process: `node bin/run-ts.mjs test/fleet/helpers/scripted-fleet-process.ts URL PREFIX FROM COUNT`
 * runs COUNT scripted devices (ids PREFIX-FROM … PREFIX-(FROM+COUNT-1)), prints "ready" once all
 * are connected and subscribed, and stops on SIGTERM.
 */
const [url, prefix, from, count] = process.argv.slice(2);
const devices: ScriptedDevice[] = [];
const start = Number(from);
const n = Number(count);
for (let i = start; i < start + n; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(start + n, i + 50); j++) batch.push(startScriptedDevice({ url: url!, deviceId: `${prefix}-${j}` }));
  devices.push(...(await Promise.all(batch)));
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void Promise.all(devices.map((d) => d.close())).finally(() => process.exit(0));
});
