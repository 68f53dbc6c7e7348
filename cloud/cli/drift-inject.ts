import { parseCommandArgs, numberFlag, requireFlag } from '../../shared/cli/args';
import { DEMO_SHIFT_PATH, DEMO_SHIFT_TOPIC } from '../../shared/drift/demo-shift';
import { SHIFT_KINDS } from '../../shared/drift/shifts';
import { parseBrokerTarget } from '../broker/broker-target';
import { sendDemoShift } from '../demo/send-demo-shift';

const HELP = `usage: edgekd drift inject --shift ${SHIFT_KINDS.join('|')}|none --severity 1..5 [--devices ID,ID…] [--broker URL | --http URL]

Injects a distribution shift into the demo agents' input stream: the demo input feeder applies it
to every image it sends (the same shift functions as npm run bench:drift). --shift none clears it.

  --broker URL   MQTT broker of the demo (default mqtt://127.0.0.1:1883); the command is published
                 retained on ${DEMO_SHIFT_TOPIC}, QoS 1
  --broker-user U, --broker-password-file FILE
                 the demo's local broker account (the demo prints both; the password may also
                 come from EDGEKD_BROKER_PASSWORD or the URL)
  --http URL     instead, POST it to a feeder at URL${DEMO_SHIFT_PATH}
  --devices      only these device ids (default: all)`;

export async function run(argv: string[], deps: { now?: () => number; fetchImpl?: typeof fetch } = {}): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    { shift: { type: 'string' }, severity: { type: 'string' }, devices: { type: 'string' }, broker: { type: 'string' }, 'broker-user': { type: 'string' }, 'broker-password-file': { type: 'string' }, http: { type: 'string' } },
    HELP,
  );
  if (help) return 0;
  const cmd = await sendDemoShift(
    {
      shift: requireFlag(values.shift, 'shift'),
      severity: numberFlag(values.severity, 'severity', 3, { min: 1, max: 5 }),
      ...(values.devices ? { devices: values.devices.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    },
    values.http
      ? { feederUrl: values.http }
      : { broker: parseBrokerTarget({ url: values.broker ?? 'mqtt://127.0.0.1:1883', username: values['broker-user'], passwordFile: values['broker-password-file'], envPassword: process.env.EDGEKD_BROKER_PASSWORD }) },
    deps,
  );
  console.log(cmd.shift === 'none' ? 'shift cleared' : `injected ${cmd.shift} severity ${cmd.severity}${cmd.devices ? ` on ${cmd.devices.length} device(s)` : ' on every device'}`);
  return 0;
}
