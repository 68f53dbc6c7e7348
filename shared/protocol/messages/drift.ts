import { Type, type Static } from 'typebox';
import { ModelRef, NonNegativeInt, ReportHeader, Timestamp } from './common';

/**
 * The drift report envelope. The statistics body (`stats`) is defined by `shared/drift/` (its
 * `DriftReport` schema) and is carried here as an object; the protocol layer checks only the
 * envelope, the drift ingester parses `stats` with the drift schema. Sent through the outbox like
 * status reports (at least once, de-duplicated on `idempotencyKey`).
 */
export const DriftReportEnvelope = Type.Object({
  schema: Type.Literal('edgekd.drift/1'),
  ...ReportHeader,
  model: ModelRef,
  window: Type.Object({
    start: Timestamp,
    end: Timestamp,
    inferences: NonNegativeInt,
  }),
  stats: Type.Record(Type.String(), Type.Unknown()),
});
export type DriftReportEnvelope = Static<typeof DriftReportEnvelope>;
