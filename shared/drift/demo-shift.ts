import { Type, type Static } from 'typebox';
import { createParser } from '../contracts/parse';
import { SHIFT_KINDS, applyImageShift, priorShiftWeights, sampleCategorical, type ImageGeometry } from './shifts';
import type { Random } from '../random/seeded-random';

/**
 * The demo's shift-injection command: what `edgekd drift inject` sends and what the demo input
 * feeder applies to the images it streams to the agents. One retained MQTT message (the current
 * shift, so a feeder that starts later picks it up) or one HTTP POST to the feeder's endpoint.
 * `shift: 'none'` clears it. The same shift functions as `npm run bench:drift`.
 */
export const DEMO_SHIFT_TOPIC = 'edgekd/v1/demo/shift';
export const DEMO_SHIFT_PATH = '/demo/shift';

export const DemoShiftCommand = Type.Object({
  schema: Type.Literal('edgekd.demo-shift/1'),
  shift: Type.Union([...SHIFT_KINDS.map((k) => Type.Literal(k)), Type.Literal('none')]),
  severity: Type.Integer({ minimum: 1, maximum: 5 }),
  /** Devices the feeder shifts; absent = every device it feeds. */
  devices: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 10000 })),
  /** When the shift was requested (ms since epoch), for the demo timeline. */
  at: Type.Integer({ minimum: 0 }),
});
export type DemoShiftCommand = Static<typeof DemoShiftCommand>;

export const parseDemoShiftCommand = createParser(DemoShiftCommand, 'demo shift command');

/**
 * What a feeder does with one image of class `label` drawn from its pool: returns the image to
 * send. For a label-prior shift the feeder must choose *which* image to send; `pickClass` gives the
 * class to draw next under the shifted prior (null when the prior is unchanged).
 */
export function createShiftApplier(geometry: ImageGeometry, numClasses: number, random: Random) {
  let current: DemoShiftCommand | null = null;
  return {
    set(cmd: DemoShiftCommand): void {
      current = cmd.shift === 'none' ? null : cmd;
    },
    get current(): DemoShiftCommand | null {
      return current;
    },
    appliesTo(deviceId: string): boolean {
      return current !== null && (!current.devices || current.devices.includes(deviceId));
    },
    pickClass(deviceId: string): number | null {
      if (!current || current.shift !== 'prior' || !this.appliesTo(deviceId)) return null;
      return sampleCategorical(priorShiftWeights(numClasses, current.severity), random);
    },
    apply(deviceId: string, image: ArrayLike<number>): ArrayLike<number> {
      if (!current || current.shift === 'prior' || current.shift === 'none' || !this.appliesTo(deviceId)) return image;
      return applyImageShift(image, current.shift, current.severity, geometry, random);
    },
  };
}
