import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJson } from '../../shared/contracts/parse';
import { toEdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { parseModelManifest, type ModelManifest } from '../../shared/package';
import type { LoadedModel, ModelRuntime } from '../inference/model-runtime';
import { SLOT_FILES, type SlotName, type SlotStore } from '../storage/slots';

/** How executors (and startup) turn a slot on disk into a loaded, not warmed, model. */
export interface ModelLoader {
  /** The model in `slot` with `manifest` (a deployment's own: its record's offer). */
  load(slot: SlotName, manifest: ModelManifest): Promise<LoadedModel>;
  /** The model in `slot` with the manifest staged beside it (restart, rollback to an older slot). */
  loadStaged(slot: SlotName): Promise<LoadedModel>;
}

export function createModelLoader(slots: SlotStore, runtime: Pick<ModelRuntime, 'load'>): ModelLoader {
  return {
    load: (slot, manifest) => runtime.load(slots.modelPath(slot), manifest),
    async loadStaged(slot) {
      const raw = await readFile(join(slots.slotDir(slot), SLOT_FILES.manifest));
      const manifest = parseModelManifest.parse(parseJson(raw, `slot ${slot} manifest`, 'EDGEKD_PACKAGE_INVALID'));
      return runtime.load(slots.modelPath(slot), manifest);
    },
  };
}

/**
 * Startup: serves whatever the pointer names; a slot that will not load falls back to the
 * previous one (the pointer is reverted on disk), and with none left the device serves nothing.
 */
export async function restoreActiveSlot(slots: SlotStore, models: ModelLoader, runtime: Pick<ModelRuntime, 'setActive'>, log: Logger): Promise<void> {
  let pointer = await slots.readPointer();
  while (pointer) {
    try {
      runtime.setActive(await models.loadStaged(pointer.active.slot));
      return;
    } catch (e) {
      log.error({ err: toEdgekdError(e), slot: pointer.active.slot }, 'active slot does not load; reverting to the previous slot');
      pointer = await slots.revert();
    }
  }
}
