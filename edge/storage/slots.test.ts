import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelRef } from '../../shared/protocol';
import { createSlotStore, SLOT_FILES } from './slots';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgekd-slots-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const model = (v: number): ModelRef => ({ name: 'mlp', version: v, sha256: String(v).repeat(64) });

function download(dir: string, bytes: string): string {
  const p = join(dir, `download-${bytes}.part`);
  writeFileSync(p, bytes);
  return p;
}

describe('model slots', () => {
  it('stages the model, manifest and signature side by side in the slot', async () => {
    const dir = tempDir();
    const slots = createSlotStore(dir);
    await slots.stage('a', download(dir, 'v1-bytes'), { name: 'mlp' }, { keyId: 'k1' });
    expect(readFileSync(slots.modelPath('a'), 'utf8')).toBe('v1-bytes');
    expect(JSON.parse(readFileSync(join(slots.slotDir('a'), SLOT_FILES.manifest), 'utf8'))).toEqual({ name: 'mlp' });
    expect(JSON.parse(readFileSync(join(slots.slotDir('a'), SLOT_FILES.signature), 'utf8'))).toEqual({ keyId: 'k1' });
  });

  it('has no pointer before the first activation, and offers slot a', async () => {
    const slots = createSlotStore(tempDir());
    const p = await slots.readPointer();
    expect(p).toBeNull();
    expect(slots.inactiveSlot(p)).toBe('a');
  });

  it('switches the pointer on activation and keeps the old active slot as previous', async () => {
    const dir = tempDir();
    const slots = createSlotStore(dir);
    await slots.activate({ slot: 'a', model: model(1) });
    const p = await slots.activate({ slot: 'b', model: model(2) });
    expect(p).toEqual({ active: { slot: 'b', model: model(2) }, previous: { slot: 'a', model: model(1) } });
    expect(slots.inactiveSlot(p)).toBe('a');
    // The pointer is on disk: a store opened after a restart reads the same.
    expect(await createSlotStore(dir).readPointer()).toEqual(p);
  });

  it('refuses to stage into the active slot', async () => {
    const dir = tempDir();
    const slots = createSlotStore(dir);
    await slots.stage('a', download(dir, 'v1'), {}, {});
    await slots.activate({ slot: 'a', model: model(1) });
    await expect(slots.stage('a', download(dir, 'v2'), {}, {})).rejects.toThrow(/active slot a/);
    expect(readFileSync(slots.modelPath('a'), 'utf8')).toBe('v1');
  });

  it('forgets the previous slot before overwriting it, so the pointer never names a half-written slot', async () => {
    const dir = tempDir();
    const slots = createSlotStore(dir);
    await slots.activate({ slot: 'a', model: model(1) });
    await slots.activate({ slot: 'b', model: model(2) });
    await slots.stage('a', download(dir, 'v3'), {}, {});
    expect(await createSlotStore(dir).readPointer()).toEqual({ active: { slot: 'b', model: model(2) }, previous: null });
  });

  it('reverts to the previous slot, and a second revert with none left removes the pointer', async () => {
    const dir = tempDir();
    const slots = createSlotStore(dir);
    await slots.activate({ slot: 'a', model: model(1) });
    await slots.activate({ slot: 'b', model: model(2) });
    expect(await slots.revert()).toEqual({ active: { slot: 'a', model: model(1) }, previous: null });
    expect(await slots.revert()).toBeNull();
    expect(await slots.readPointer()).toBeNull();
    expect(existsSync(join(dir, 'active.json'))).toBe(false);
    expect(await createSlotStore(dir).readPointer()).toBeNull();
  });

  it('rejects a pointer file that does not match its schema with a typed error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'active.json'), JSON.stringify({ active: { slot: 'c' } }));
    await expect(createSlotStore(dir).readPointer()).rejects.toMatchObject({ code: 'EDGEKD_INTERNAL' });
  });
});
