import type { ExecContext, StepResult } from '../exec-context';
import type { StepAction, StepOf } from '../steps';
import { runActivate } from './activate';
import { runBake } from './bake';
import { runDownload } from './download';
import { runPreflight } from './preflight';
import { runRollBack } from './roll-back';
import { runShadow } from './shadow';
import { runStage } from './stage';
import { runVerify } from './verify';
import { runWarm } from './warm';

/** One executor per step action; the mapped type makes a missing one a compile error. */
export type Executors = { [A in StepAction]: (step: StepOf<A>, ctx: ExecContext) => Promise<StepResult> };

export const executors: Executors = {
  preflight: runPreflight,
  download: runDownload,
  verify: runVerify,
  stage: runStage,
  warm: runWarm,
  shadow: runShadow,
  activate: runActivate,
  bake: runBake,
  rollBack: runRollBack,
};
