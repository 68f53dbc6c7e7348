import type { RetrainController } from '../retrain/retrain-controller';
import type { RetrainPort } from './ports';

/**
 * The API's retrain port on a retrain controller: the policy with the pause switch as one
 * document (`paused`), and the runs as history rows. The policy change is validated and stored
 * before the switch moves, so a refused body changes nothing.
 */
export function retrainPortOf(retrain: RetrainController): RetrainPort {
  const view = async (): Promise<Record<string, unknown>> => ({ ...(await retrain.getPolicy()), paused: (await retrain.paused()).paused });
  return {
    getPolicy: view,
    async setPolicy(policy, by) {
      const { paused, ...rest } = policy;
      if (Object.keys(rest).length) await retrain.setPolicy(rest, by);
      if (paused === true) await retrain.pause('paused through the API', by);
      if (paused === false) await retrain.resume('resumed through the API', by);
      return view();
    },
    async history() {
      return (await retrain.runs(100)).map((r) => {
        const distillStep = r.steps.find((s) => s.name === 'distill');
        const rolloutStepRec = r.steps.find((s) => s.name === 'rollout');
        return {
          ...r,
          alarmId: r.cohortAlarmId ?? r.id,
          runId: (distillStep?.summary?.jobId as string | undefined) ?? null,
          packageId: r.packageRef ? `${r.packageRef.name}@${r.packageRef.version}` : null,
          rolloutId: (rolloutStepRec?.summary?.rolloutId as string | undefined) ?? null,
          reason: r.outcome ?? r.error ?? r.state,
        };
      });
    },
  };
}
