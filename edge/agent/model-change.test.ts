import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import type { LoadedModel } from '../inference/model-runtime';
import { createModelChangeNotifier } from './model-change';

const loaded = (v: number): LoadedModel => ({ ref: { name: 'mlp', version: v, sha256: String(v).repeat(64) }, manifest: { v } } as unknown as LoadedModel);
const log = createLogger('model-change-test', 'silent');

describe('model change notifier', () => {
  it('tells each listener about a new serving build once, however often it is checked', () => {
    let serving: LoadedModel | null = loaded(1);
    const n = createModelChangeNotifier(() => serving, log);
    const heard: Array<number | null> = [];
    n.listen((_m, ref) => heard.push(ref?.version ?? null));
    n.check();
    n.check();
    serving = loaded(2);
    n.check();
    serving = null;
    n.check();
    n.check();
    expect(heard).toEqual([1, 2, null]);
  });

  it('passes the serving manifest with its reference', () => {
    const n = createModelChangeNotifier(() => loaded(3), log);
    const got: unknown[] = [];
    n.listen((m) => got.push(m));
    n.check();
    expect(got).toEqual([{ v: 3 }]);
  });

  it('keeps telling the other listeners when one throws, and stops telling one that unsubscribed', () => {
    let serving = loaded(1);
    const n = createModelChangeNotifier(() => serving, log);
    const heard: number[] = [];
    n.listen(() => {
      throw new Error('broken listener');
    });
    const off = n.listen((_m, ref) => heard.push(ref!.version));
    n.check();
    off();
    serving = loaded(2);
    n.check();
    expect(heard).toEqual([1]);
  });
});
