import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRandom } from '../../shared/random/seeded-random';
import { loadBuffer, saveBuffer } from './buffer-file';
import { NoiseSynthesizer } from './noise-synthesizer';
import { ReplayBuffer } from './replay-buffer';

function saved(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-buffer-'));
  const buf = new ReplayBuffer({ capacity: 8, sampleShape: [2, 2, 1], numClasses: 2, prioritized: false, alpha: 0.6, epsilon: 1e-3 });
  const probs = Float32Array.from({ length: 16 }, (_, i) => (i % 2 === Math.floor(i / 2) % 2 ? 0.9 : 0.1));
  buf.insert(new NoiseSynthesizer([2, 2, 1], { low: -1, high: 1 }, createRandom(1)).batch(8), probs, new Float32Array(8).fill(1), { fraction: 1, ordered: false, balanced: false, evict: true });
  saveBuffer(dir, buf, { runJobId: 'r1' });
  return dir;
}

describe('saved replay buffers', () => {
  it('round-trips with a content hash in the header', () => {
    const dir = saved();
    expect(JSON.parse(readFileSync(join(dir, 'buffer.json'), 'utf8')).contentSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(loadBuffer(dir).size).toBe(8);
  });

  it('refuses a changed body, an edited header and a header without a hash', () => {
    const body = saved();
    const bin = readFileSync(join(body, 'buffer.bin'));
    bin[20] = bin[20]! ^ 0xff;
    writeFileSync(join(body, 'buffer.bin'), bin);
    expect(() => loadBuffer(body)).toThrow(expect.objectContaining({ code: 'EDGEKD_CHECKPOINT_INVALID' }));

    const header = saved();
    const h = JSON.parse(readFileSync(join(header, 'buffer.json'), 'utf8'));
    writeFileSync(join(header, 'buffer.json'), JSON.stringify({ ...h, runJobId: 'other' }));
    expect(() => loadBuffer(header)).toThrow(expect.objectContaining({ code: 'EDGEKD_CHECKPOINT_INVALID' }));

    const old = saved();
    const { contentSha256: _drop, ...rest } = JSON.parse(readFileSync(join(old, 'buffer.json'), 'utf8'));
    writeFileSync(join(old, 'buffer.json'), JSON.stringify(rest));
    expect(() => loadBuffer(old)).toThrow(/no contentSha256/);
  });
});
