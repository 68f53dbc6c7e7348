import type { PriorityStats } from './replay-buffer';
import type { SynthesisLosses } from './synthesizer';

/**
 * Progress of a run, as plain JSON-safe objects (the console streams them over SSE, the CLI
 * draws a bar from them). One `start`, then per epoch: `synthesis` per round, `kd-step` per
 * student step, one `epoch`, optionally `checkpoint`; finally `done`.
 */
export type DistillEvent =
  | {
      type: 'start';
      method: string;
      seed: number;
      epochs: number;
      warmupEpochs: number;
      kdStepsPerEpoch: number;
      synthesisRounds: number;
      budgetSamples: number;
      bufferCapacity: number;
      resumedFromEpoch: number | null;
    }
  | {
      type: 'synthesis';
      epoch: number;
      round: number;
      rounds: number;
      losses: SynthesisLosses;
      samplesGenerated: number;
      inserted: number;
      evicted: number;
      dropped: number;
      bufferSize: number;
      seconds: number;
    }
  | { type: 'kd-step'; epoch: number; step: number; stepsPerEpoch: number; loss: number; lr: number; beta: number }
  | {
      type: 'epoch';
      epoch: number;
      epochs: number;
      /** Student accuracy on the real test split (null when no evaluator was given). */
      testAccuracy: number | null;
      bestAccuracy: number | null;
      kdLoss: number | null;
      synthesisLosses: SynthesisLosses | null;
      samplesGenerated: number;
      bufferSize: number;
      bufferCapacity: number;
      /** Teacher-predicted class counts in the buffer. */
      classHistogram: number[];
      priority: PriorityStats;
      lr: number;
      synthesisSeconds: number;
      distillSeconds: number;
      elapsedSeconds: number;
    }
  | { type: 'checkpoint'; epoch: number; dir: string }
  | { type: 'done'; epochs: number; finalAccuracy: number | null; bestAccuracy: number | null; samplesGenerated: number; totalSeconds: number };

export type DistillEventListener = (e: DistillEvent) => void;
