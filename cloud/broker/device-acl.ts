import { parseTopic } from '../../shared/protocol/codec';
import { TOPIC_ROOT, Topics, type TopicSpec } from '../../shared/protocol/topics';
import { DEMO_SHIFT_TOPIC } from '../../shared/drift/demo-shift';

/**
 * Who may use which topic: the same rules as deploy/mosquitto/acl (pattern rules with %u), written
 * once as data so the embedded broker and the Mosquitto file cannot drift apart
 * (`mosquittoAclText()` renders the file; a test compares).
 *
 * - A device (MQTT username = device id) may publish only the topics its direction table marks as
 *   written by a device, and subscribe only to the ones marked as written to it, and only under
 *   `edgekd/v1/devices/<its own id>/`. No wildcards that reach another device.
 * - Service accounts (the cloud; the demo's local tools) may read and write every device topic and
 *   the demo's input-shift topic, but publish only to topic
 *   names that parse as an edgekd v1 topic (a valid device id and a known kind): a name with an
 *   empty level, a stray suffix or no device is refused before routing (docs/protocol.md).
 */
export type Principal = { kind: 'device'; deviceId: string } | { kind: 'service'; name: string };

const deviceWrites = (t: TopicSpec): boolean => t.direction === 'device→cloud' || t.direction === 'device→client';
const deviceReads = (t: TopicSpec): boolean => t.direction === 'cloud→device' || t.direction === 'client→device';

const SPECS: readonly TopicSpec[] = Object.values(Topics);

function suffixOf(deviceId: string, topic: string): string | null {
  const prefix = `${TOPIC_ROOT}/${deviceId}/`;
  return topic.startsWith(prefix) ? topic.slice(prefix.length) : null;
}

export function mayPublish(p: Principal, topic: string): boolean {
  if (p.kind === 'service') return isProtocolTopic(topic) || topic === DEMO_SHIFT_TOPIC;
  const suffix = suffixOf(p.deviceId, topic);
  return suffix !== null && SPECS.some((t) => t.suffix === suffix && deviceWrites(t));
}

/** True when the name parses as `edgekd/v1/devices/<valid id>/<known suffix>`. */
export function isProtocolTopic(topic: string): boolean {
  try {
    parseTopic(topic);
    return true;
  } catch {
    return false;
  }
}

/** Subscription filters: a device may subscribe to its own readable topics by exact name only. */
export function maySubscribe(p: Principal, filter: string): boolean {
  if (p.kind === 'service') return filter.startsWith(`${TOPIC_ROOT}/`) || filter === `${TOPIC_ROOT}/#` || filter === DEMO_SHIFT_TOPIC;
  if (filter.includes('#') || filter.includes('+')) return false;
  const suffix = suffixOf(p.deviceId, filter);
  return suffix !== null && SPECS.some((t) => t.suffix === suffix && deviceReads(t));
}

/** The Mosquitto ACL file for these rules (deploy/mosquitto/acl is this text, checked by a test). */
export function mosquittoAclText(serviceUser = 'edgekd-cloud'): string {
  const lines = [
    '# Generated from cloud/broker/device-acl.ts (mosquittoAclText); keep the two identical.',
    '# Devices authenticate with username = device id; %u confines each to its own topics.',
    '',
    `user ${serviceUser}`,
    `topic readwrite ${TOPIC_ROOT}/#`,
    `topic readwrite ${DEMO_SHIFT_TOPIC}`,
    '',
    '# every other user (a device):',
  ];
  for (const t of SPECS) {
    if (deviceWrites(t)) lines.push(`pattern write ${TOPIC_ROOT}/%u/${t.suffix}`);
    if (deviceReads(t)) lines.push(`pattern read ${TOPIC_ROOT}/%u/${t.suffix}`);
  }
  return lines.join('\n') + '\n';
}
