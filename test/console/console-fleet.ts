import type { RunningCloud } from '../../cloud/api/start-cloud';

export interface ConsoleFleet {
  readonly deviceIds: string[];
  readonly group: string;
  readonly packageId: string;
  close(): Promise<void>;
}

export function consoleFleetAvailable(): boolean {
  return false;
}

/** Three real edge agents and a signed package for the rollout part. */
export async function startConsoleFleet(_cloud: RunningCloud, _dir: string): Promise<ConsoleFleet> {
  throw new Error('the edge agent is not in this build');
}
