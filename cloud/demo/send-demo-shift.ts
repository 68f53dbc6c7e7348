import mqtt from 'mqtt';
import { EdgekdError } from '../../shared/errors';
import { DEMO_SHIFT_PATH, DEMO_SHIFT_TOPIC, parseDemoShiftCommand, type DemoShiftCommand } from '../../shared/drift/demo-shift';
import { SHIFT_KINDS, isShiftKind } from '../../shared/drift/shifts';
import type { BrokerTarget } from '../broker/broker-target';

export interface DemoShiftRequest {
  /** A shift kind (`SHIFT_KINDS`) or `none` to clear the shift. */
  readonly shift: string;
  /** An integer 1..5. */
  readonly severity: number;
  /** Only these devices; all when absent or empty. */
  readonly devices?: readonly string[];
}

/** Where the command goes: the demo broker (retained, QoS 1) or a feeder's HTTP endpoint. */
export type DemoShiftTarget = { readonly broker: BrokerTarget } | { readonly feederUrl: string };

/**
 * Sends a demo shift command to the demo's input feeder (`edgekd drift inject`): checked and
 * parsed into the `edgekd.demo-shift/1` schema first (EDGEKD_INVALID_ARGUMENT), then published
 * retained on the broker, so a feeder that connects later still gets it, or POSTed to a feeder.
 * An unreachable broker or feeder is EDGEKD_BROKER_UNAVAILABLE; a feeder's refusal,
 * EDGEKD_INVALID_ARGUMENT. Returns the command as sent.
 */
export async function sendDemoShift(req: DemoShiftRequest, target: DemoShiftTarget, deps: { now?: () => number; fetchImpl?: typeof fetch } = {}): Promise<DemoShiftCommand> {
  if (req.shift !== 'none' && !isShiftKind(req.shift)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `the shift must be one of ${SHIFT_KINDS.join(', ')}, none; got '${req.shift}'`);
  if (!Number.isInteger(req.severity) || req.severity < 1 || req.severity > 5) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `the severity must be an integer 1..5, got ${req.severity}`);
  const cmd: DemoShiftCommand = parseDemoShiftCommand.parse({
    schema: 'edgekd.demo-shift/1',
    shift: req.shift,
    severity: req.severity,
    at: (deps.now ?? Date.now)(),
    ...(req.devices && req.devices.length > 0 ? { devices: [...req.devices] } : {}),
  });
  const body = JSON.stringify(cmd);
  if ('feederUrl' in target) {
    const url = new URL(DEMO_SHIFT_PATH, target.feederUrl).toString();
    const res = await (deps.fetchImpl ?? fetch)(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch((e: unknown) => {
      throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot reach the demo feeder at ${url}: ${(e as Error).message}`, { cause: e });
    });
    if (!res.ok) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `demo feeder answered ${res.status}: ${await res.text()}`);
    return cmd;
  }
  const b = target.broker;
  const client = await mqtt.connectAsync(b.url, {
    connectTimeout: 5000, reconnectPeriod: 0,
    ...(b.username ? { username: b.username } : {}), ...(b.password ? { password: b.password } : {}), ...(b.tls ?? {}),
  }).catch((e: unknown) => {
    throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot reach the MQTT broker at ${b.url}: ${(e as Error).message}`, { cause: e });
  });
  try {
    await client.publishAsync(DEMO_SHIFT_TOPIC, body, { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
  return cmd;
}
