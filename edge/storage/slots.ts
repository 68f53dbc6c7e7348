import { copyFile, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from 'typebox';
import { createParser } from '../../shared/contracts/parse';
import { ModelRef } from '../../shared/protocol';
import { fsyncDir, readJsonIfExists, writeFileAtomic } from './atomic-file';

/**
 * Two model slots on disk and a pointer file naming the active one:
 *
 *   <stateDir>/slots/a/{model.onnx, manifest.json, manifest.sig}
 *   <stateDir>/slots/b/…
 *   <stateDir>/active.json   {active: {slot, model}, previous: {slot, model} | null}
 *
 * INVARIANTS
 * - The pointer is only ever replaced by an atomic rename (writeFileAtomic), so after a crash it
 *   names a complete slot or does not exist. Replacing it is THE switch.
 * - A slot is written only while the pointer does not name it as active; before overwriting the
 *   slot named `previous`, the pointer is rewritten without `previous`, so the pointer never names
 *   a half-written slot.
 */
export const SlotName = Type.Union([Type.Literal('a'), Type.Literal('b')]);
export type SlotName = Static<typeof SlotName>;

export const SlotRef = Type.Object({ slot: SlotName, model: ModelRef }, { additionalProperties: false });
export type SlotRef = Static<typeof SlotRef>;

export const Pointer = Type.Object(
  { active: SlotRef, previous: Type.Union([SlotRef, Type.Null()]) },
  { additionalProperties: false },
);
export type Pointer = Static<typeof Pointer>;

const parsePointer = createParser(Pointer, 'active-slot pointer', 'EDGEKD_INTERNAL');

export const SLOT_FILES = { model: 'model.onnx', manifest: 'manifest.json', signature: 'manifest.sig' } as const;

export interface SlotStore {
  readPointer(): Promise<Pointer | null>;
  /** The slot a new model may be written to (never the active one). */
  inactiveSlot(pointer: Pointer | null): SlotName;
  slotDir(slot: SlotName): string;
  modelPath(slot: SlotName): string;
  /** Moves a verified file into `slot` with its manifest and signature, fsynced. */
  stage(slot: SlotName, modelFile: string, manifest: unknown, signature: unknown): Promise<void>;
  /** The switch: pointer → `next`, the old active becomes `previous`. */
  activate(next: SlotRef): Promise<Pointer>;
  /** Pointer → previous (or no pointer at all if there is none). Returns the new pointer. */
  revert(): Promise<Pointer | null>;
}

export function createSlotStore(stateDir: string): SlotStore {
  const pointerPath = join(stateDir, 'active.json');
  const slotDir = (slot: SlotName): string => join(stateDir, 'slots', slot);

  // This store is the pointer's only writer, so after the first read the file's content is known:
  // the deployment loop asks for it before every step, and re-reading and re-validating it each
  // time was a file read per step per agent. A failed write forgets it (the disk decides again).
  let known: Pointer | null | undefined;
  const readPointer = async (): Promise<Pointer | null> => {
    if (known !== undefined) return known;
    const raw = await readJsonIfExists(pointerPath, 'active-slot pointer');
    known = raw === undefined ? null : parsePointer.parse(raw);
    return known;
  };
  const writePointer = async (p: Pointer): Promise<void> => {
    known = undefined;
    await writeFileAtomic(pointerPath, JSON.stringify(p));
    known = p;
  };

  return {
    readPointer,
    inactiveSlot(pointer) {
      return pointer?.active.slot === 'a' ? 'b' : 'a';
    },
    slotDir,
    modelPath: (slot) => join(slotDir(slot), SLOT_FILES.model),

    async stage(slot, modelFile, manifest, signature) {
      const pointer = await readPointer();
      if (pointer?.active.slot === slot) throw new Error(`refusing to stage into the active slot ${slot}`);
      if (pointer?.previous?.slot === slot) await writePointer({ ...pointer, previous: null });
      const dir = slotDir(slot);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      // copy (not rename) so a crash here leaves the verified download in place for a retry.
      // The three files are written and fsynced side by side (the slot is complete only when all
      // are, and the directory is synced after them): one fsync wait per stage, not three in a row.
      await Promise.all([
        copyFile(modelFile, join(dir, SLOT_FILES.model)),
        writeFile(join(dir, SLOT_FILES.manifest), JSON.stringify(manifest)),
        writeFile(join(dir, SLOT_FILES.signature), JSON.stringify(signature)),
      ]);
      await Promise.all(
        Object.values(SLOT_FILES).map(async (f) => {
          const fh = await open(join(dir, f), 'r');
          try {
            await fh.sync();
          } finally {
            await fh.close();
          }
        }),
      );
      await fsyncDir(dir);
    },

    async activate(next) {
      const pointer = await readPointer();
      const updated: Pointer = { active: next, previous: pointer && pointer.active.slot !== next.slot ? pointer.active : pointer?.previous ?? null };
      await writePointer(updated);
      return updated;
    },

    async revert() {
      const pointer = await readPointer();
      if (!pointer) return null;
      if (!pointer.previous) {
        // First install rolled back: there is nothing older to serve. Removing the pointer by
        // rename keeps the operation atomic.
        known = undefined;
        await rename(pointerPath, `${pointerPath}.reverted`).catch(() => undefined);
        return null;
      }
      const updated: Pointer = { active: pointer.previous, previous: null };
      await writePointer(updated);
      return updated;
    },
  };
}
