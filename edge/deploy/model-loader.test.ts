import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import type { ModelManifest } from '../../shared/package';
import type { ModelRef } from '../../shared/protocol';
import type { LoadedModel } from '../inference/model-runtime';
import { createSlotStore, SLOT_FILES, type SlotName } from '../storage/slots';
import { createModelLoader, restoreActiveSlot } from './model-loader';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const model = (v: number): ModelRef => ({ name: 'mlp', version: v, sha256: String(v).repeat(64) });
const log = createLogger('model-loader-test', 'silent');

/** Stands in for onnxruntime: records what it was asked to load; paths listed in `broken` fail. */
function fakeRuntime(broken: string[] = []) {
  const loads: Array<{ path: string; manifest: unknown }> = [];
  let active: LoadedModel | null = null;
  return {
    loads,
    active: () => active,
    load: async (path: string, manifest: ModelManifest): Promise<LoadedModel> => {
      loads.push({ path, manifest });
      if (broken.includes(path)) throw new Error(`cannot load ${path}`);
      return { ref: { name: 'mlp', version: 0, sha256: '0'.repeat(64) }, manifest } as unknown as LoadedModel;
    },
    setActive: (m: LoadedModel | null) => {
      const before = active;
      active = m;
      return before;
    },
  };
}

async function stateDirWithSlots(manifests: Partial<Record<SlotName, unknown>>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-loader-'));
  dirs.push(dir);
  const slots = createSlotStore(dir);
  for (const [slot, manifest] of Object.entries(manifests) as Array<[SlotName, unknown]>) {
    const part = join(dir, `${slot}.part`);
    writeFileSync(part, 'model');
    await slots.stage(slot, part, manifest, {});
  }
  return dir;
}

describe('model loader', () => {
  it('loads a slot with the manifest it is given (a deployment reads its own from the record)', async () => {
    const dir = await stateDirWithSlots({ a: { staged: true } });
    const slots = createSlotStore(dir);
    const rt = fakeRuntime();
    const manifest = { from: 'record' } as unknown as ModelManifest;
    await createModelLoader(slots, rt).load('a', manifest);
    expect(rt.loads).toEqual([{ path: slots.modelPath('a'), manifest }]);
  });

  it('reads the manifest staged beside the model when none is given, and refuses one that is not a manifest', async () => {
    const dir = await stateDirWithSlots({ a: { not: 'a manifest' } });
    const slots = createSlotStore(dir);
    const rt = fakeRuntime();
    await expect(createModelLoader(slots, rt).loadStaged('a')).rejects.toMatchObject({ code: expect.stringMatching(/^EDGEKD_/) });
    writeFileSync(join(slots.slotDir('a'), SLOT_FILES.manifest), '{ not json');
    await expect(createModelLoader(slots, rt).loadStaged('a')).rejects.toMatchObject({ code: 'EDGEKD_PACKAGE_INVALID' });
    expect(rt.loads).toEqual([]);
  });
});

describe('restoring the active slot at startup', () => {
  it('serves nothing when no slot was ever activated', async () => {
    const dir = await stateDirWithSlots({});
    const rt = fakeRuntime();
    const slots = createSlotStore(dir);
    await restoreActiveSlot(slots, { load: async () => Promise.reject(new Error('unused')), loadStaged: async () => Promise.reject(new Error('unused')) }, rt, log);
    expect(rt.active()).toBeNull();
  });

  it('falls back to the previous slot when the active one does not load, and records the revert on disk', async () => {
    const dir = await stateDirWithSlots({});
    const slots = createSlotStore(dir);
    await slots.activate({ slot: 'a', model: model(1) });
    await slots.activate({ slot: 'b', model: model(2) });
    const rt = fakeRuntime();
    const tried: SlotName[] = [];
    const loader = {
      load: async () => Promise.reject(new Error('unused')),
      loadStaged: async (slot: SlotName) => {
        tried.push(slot);
        if (slot === 'b') throw new Error('corrupt');
        return { ref: model(1) } as LoadedModel;
      },
    };
    await restoreActiveSlot(slots, loader, rt, log);
    expect(tried).toEqual(['b', 'a']);
    expect(rt.active()?.ref).toEqual(model(1));
    expect((await createSlotStore(dir).readPointer())?.active).toEqual({ slot: 'a', model: model(1) });
  });

  it('serves nothing, with no pointer left, when neither slot loads', async () => {
    const dir = await stateDirWithSlots({});
    const slots = createSlotStore(dir);
    await slots.activate({ slot: 'a', model: model(1) });
    await slots.activate({ slot: 'b', model: model(2) });
    const rt = fakeRuntime();
    const failing = { load: async () => Promise.reject(new Error('x')), loadStaged: async () => Promise.reject(new Error('corrupt')) };
    await restoreActiveSlot(slots, failing, rt, log);
    expect(rt.active()).toBeNull();
    expect(await createSlotStore(dir).readPointer()).toBeNull();
  });
});
