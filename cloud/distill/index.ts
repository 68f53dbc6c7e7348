export { distillDataFree, checkPair, type DataFreeDistillOptions, type DistillResult, type EpochRecord, type InputDomain, type WarmStart } from './distill';
export { distillWithRealData, type RealDataOptions, type RealDataResult } from './real-data-baselines';
export {
  allMethods,
  dataFreeMethods,
  realDataMethods,
  defaultConfig,
  resolveConfig,
  methodPreset,
  isMethod,
  isDataFreeMethod,
  type DistillConfig,
  type DistillConfigInput,
  type DistillMethod,
  type DataFreeMethod,
  type RealDataMethod,
} from './config';
export type { DistillEvent, DistillEventListener } from './events';
export { createTestEvaluator, agreement, type Evaluator } from './evaluator';
export { ReplayBuffer, type CalibrationSet, type PriorityStats, type ReplayBufferOptions } from './replay-buffer';
export { SyntheticBatch, assertSyntheticBatch } from './synthetic-batch';
export { saveBuffer, loadBuffer } from './buffer-file';
export { wrapTeacher, type BnTarget, type TeacherView } from './teacher';
export { writeDistillOutput, teacherSha256, RUN_RECORD, type RunRecord } from './run-output';
export { modulate, type ModulationConfig } from './modulating';
