import { EdgekdError } from '../../shared/errors';
import { evenSubset } from '../data/labelled-split';
import { loadTeacher } from '../zoo/model-io';
import { evaluateModel } from './evaluate';
import { loadTrainingData } from './load-training-data';

export interface EvaluateTeacherOptions {
  /** A saved model folder (model.json, weights.bin, model-card.json). */
  readonly teacherDir: string;
  /** A built-in dataset, or… */
  readonly dataset?: string;
  /** …a folder of PNGs (the input shape comes from the model card). */
  readonly datasetDir?: string;
  /** Evaluate on this many test images spread evenly over the split; default all. */
  readonly limit?: number;
}

export interface TeacherEvaluation {
  readonly accuracy: number;
  readonly samples: number;
  readonly loss: number;
  readonly dataset: string;
  /** The test accuracy the model card claims, for comparison; null when it claims none. */
  readonly cardAccuracy: number | null;
}

/**
 * A saved model's accuracy on the **test** split of a dataset (`edgekd teacher eval`). Needs a
 * TensorFlow.js backend (initCompute) first. A model whose class count differs from the dataset's
 * is EDGEKD_SHAPE_MISMATCH; the model is disposed afterwards either way.
 */
export async function evaluateTeacher(o: EvaluateTeacherOptions): Promise<TeacherEvaluation> {
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 1)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `the limit must be a positive integer, got ${o.limit}`);
  const teacher = await loadTeacher(o.teacherDir);
  try {
    const data = loadTrainingData({ dataset: o.dataset, datasetDir: o.datasetDir, inputShape: teacher.card.inputShape.join('x'), normalization: teacher.card.normalization });
    if (data.info.numClasses !== teacher.card.numClasses) {
      throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `the model has ${teacher.card.numClasses} classes, dataset ${data.info.name} has ${data.info.numClasses}`);
    }
    const test = o.limit ? evenSubset(data.test, o.limit) : data.test;
    const r = evaluateModel(teacher.model, test);
    return { accuracy: r.accuracy, samples: r.samples, loss: r.loss, dataset: data.info.name, cardAccuracy: teacher.card.accuracy?.test ?? null };
  } finally {
    teacher.model.dispose();
  }
}
