import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { readSigningKeyFile } from '../../shared/package/key-files';
import { brokerCredentials } from '../conformance/broker-credentials';
import { formatConformanceTable, runConformance } from '../conformance/run-conformance';

const HELP = `usage: edgekd conformance --broker URL --device ID --signing-key FILE [options]

Plays the cloud's side of the edgekd device protocol (docs/protocol.md) against one device under
test, in any language, and prints a pass/fail table: birth, an install over MQTT chunks with a
retryAfterMs error, a dropped and a corrupt chunk, report redelivery, a repeated offer, offers the
device must refuse (tampered manifest, untrusted key, mismatched offer, older version), a file
altered in transit, a final chunk error, an upgrade with shadow and bake, rollback commands,
heartbeats, and every message checked against the protocol's schemas.

The device must be connected to the same broker, trust the signing key, and run nothing else
meanwhile. It installs two versions of a small ONNX classifier named conformance-<random>.

  --broker URL          mqtt://host:port (user info in the URL is used as credentials)
  --device ID           the device id under test
  --signing-key FILE    a signing-key.json (edgekd keys generate) whose key the device trusts
  --username NAME       MQTT username of this runner (default: from the URL)
  --password SECRET     MQTT password (default: from the URL, or $EDGEKD_MQTT_PASSWORD)
  --timeout-ms N        how long one case waits for the device (default 60000)
  --redelivery-wait-ms N  how long to wait for an unacked report to come again (default 30000)
  --heartbeat-wait-ms N how long to wait for a heartbeat (default 70000)
  --json                print the report as JSON instead of the table

Exit status: 0 when every case passes, 1 otherwise.`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      broker: { type: 'string' }, device: { type: 'string' }, 'signing-key': { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
      'timeout-ms': { type: 'string' }, 'redelivery-wait-ms': { type: 'string' }, 'heartbeat-wait-ms': { type: 'string' }, json: { type: 'boolean' },
    },
    HELP,
  );
  if (help) return 0;
  const broker = brokerCredentials(requireFlag(values.broker, 'broker'), { username: values.username, password: values.password ?? process.env.EDGEKD_MQTT_PASSWORD });
  const signingKey = readSigningKeyFile(requireFlag(values['signing-key'], 'signing-key'));
  const report = await runConformance({
    brokerUrl: broker.url, username: broker.username, password: broker.password,
    deviceId: requireFlag(values.device, 'device'), signingKey,
    caseTimeoutMs: numberFlag(values['timeout-ms'], 'timeout-ms', 60_000, { min: 100 }),
    redeliveryWaitMs: numberFlag(values['redelivery-wait-ms'], 'redelivery-wait-ms', 30_000, { min: 0 }),
    heartbeatWaitMs: numberFlag(values['heartbeat-wait-ms'], 'heartbeat-wait-ms', 70_000, { min: 0 }),
    log: values.json ? undefined : (line) => console.error(line),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatConformanceTable(report));
  return report.ok ? 0 : 1;
}
