import cliProgress from 'cli-progress';
import type { StepProgress } from './train-teacher';

/**
 * The training progress bar (stderr, so stdout stays machine-readable): epoch, step, running
 * loss and accuracy, images/s and the ETA of the whole run. Off a TTY (nohup, CI) cli-progress
 * prints a line every `notTTYSchedule` ms instead of redrawing.
 */
export interface TrainingProgress {
  update(p: StepProgress): void;
  epochDone(line: string): void;
  stop(): void;
}

function formatEta(sec: number): string {
  if (!Number.isFinite(sec) || sec <= 0) return '--';
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

export function createTrainingProgress(stream: NodeJS.WriteStream = process.stderr): TrainingProgress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'epoch {ep}/{eps} |{bar}| {value}/{total} steps | loss {loss} | acc {acc} | {ips} img/s | ETA {runeta}',
      barsize: 24,
      hideCursor: false,
      clearOnComplete: true,
      noTTYOutput: true,
      notTTYSchedule: 15_000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let currentEpoch = 0;
  return {
    update(p) {
      const payload = {
        ep: p.epoch,
        eps: p.epochs,
        loss: p.loss.toFixed(4),
        acc: p.accuracy.toFixed(4),
        ips: p.imagesPerSec.toFixed(0),
        runeta: formatEta(p.etaSec),
      };
      if (!started || currentEpoch !== p.epoch) {
        if (started) bar.stop();
        bar.start(p.stepsPerEpoch, p.step, payload);
        started = true;
        currentEpoch = p.epoch;
      } else bar.update(p.step, payload);
    },
    epochDone(line) {
      if (started) bar.stop();
      started = false;
      stream.write(`${line}\n`);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
