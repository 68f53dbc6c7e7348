import type { RolloutTarget } from '../fleet/rollout/rollout-spec';

/**
 * A drift cohort is the set of devices a retrained model is offered to, so the cohort a report is
 * filed under and the rollout target of the retrain it may trigger are one value: `group:<name>`
 * (the device's first fleet group) or, for a device in no group, `device:<id>` (the model line on
 * that one device). Never a literal group: the target always comes from the alarming cohort.
 */
export function cohortOfDevice(deviceId: string, groups: readonly string[] | undefined): string {
  const g = groups?.find((x) => x.length > 0);
  return g ? `group:${g}` : `device:${deviceId}`;
}

/**
 * The rollout target of a cohort named by `cohortOfDevice`; a bare name (a drift service wired
 * with its own `cohortOf`) is a group name. Null for a name that names no devices.
 */
export function rolloutTargetOfCohort(cohort: string): RolloutTarget | null {
  const i = cohort.indexOf(':');
  const kind = i > 0 ? cohort.slice(0, i) : '';
  const name = cohort.slice(i + 1);
  if (name.length === 0) return null;
  if (kind === 'group') return { groups: [name] };
  if (kind === 'device') return { devices: [name] };
  if (kind === '') return { groups: [cohort] };
  return null;
}
