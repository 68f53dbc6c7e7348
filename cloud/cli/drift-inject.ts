import mqtt from 'mqtt';
import { parseCommandArgs, numberFlag, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { parseBrokerTarget } from '../broker/broker-target';
import { DEMO_SHIFT_PATH, DEMO_SHIFT_TOPIC, parseDemoShiftCommand, type DemoShiftCommand } from '../../shared/drift/demo-shift';
import { SHIFT_KINDS, isShiftKind } from '../../shared/drift/shifts';

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
  const shift = requireFlag(values.shift, 'shift');
  if (shift !== 'none' && !isShiftKind(shift)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--shift must be one of ${SHIFT_KINDS.join(', ')}, none; got '${shift}'`);
  const severity = numberFlag(values.severity, 'severity', 3, { min: 1, max: 5 });
  if (!Number.isInteger(severity)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--severity must be an integer 1..5, got ${severity}`);
  const cmd: DemoShiftCommand = parseDemoShiftCommand.parse({
    schema: 'edgekd.demo-shift/1',
    shift,
    severity,
    at: (deps.now ?? Date.now)(),
    ...(values.devices ? { devices: values.devices.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
  });
  const body = JSON.stringify(cmd);
  if (values.http) {
    const url = new URL(DEMO_SHIFT_PATH, values.http).toString();
    const res = await (deps.fetchImpl ?? fetch)(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch((e: unknown) => {
      throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot reach the demo feeder at ${url}: ${(e as Error).message}`, { cause: e });
    });
    if (!res.ok) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `demo feeder answered ${res.status}: ${await res.text()}`);
  } else {
    const target = parseBrokerTarget({ url: values.broker ?? 'mqtt://127.0.0.1:1883', username: values['broker-user'], passwordFile: values['broker-password-file'], envPassword: process.env.EDGEKD_BROKER_PASSWORD });
    const url = target.url;
    const client = await mqtt.connectAsync(url, {
      connectTimeout: 5000, reconnectPeriod: 0,
      ...(target.username ? { username: target.username } : {}), ...(target.password ? { password: target.password } : {}), ...(target.tls ?? {}),
    }).catch((e: unknown) => {
      throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot reach the MQTT broker at ${url}: ${(e as Error).message}`, { cause: e });
    });
    try {
      await client.publishAsync(DEMO_SHIFT_TOPIC, body, { qos: 1, retain: true });
    } finally {
      await client.endAsync();
    }
  }
  console.log(cmd.shift === 'none' ? 'shift cleared' : `injected ${cmd.shift} severity ${cmd.severity}${cmd.devices ? ` on ${cmd.devices.length} device(s)` : ' on every device'}`);
  return 0;
}
