import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

function topFolderOf(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const target = relative(root, resolve(dirname(file), spec));
  return target.split(/[\\/]/)[0] ?? null;
}

function violations(folder: string, forbidden: string[]): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(join(root, folder))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      const top = topFolderOf(file, spec);
      if (top !== null && forbidden.includes(top)) found.push(`${relative(root, file)} imports ${spec}`);
    }
  }
  return found;
}

describe('dependency direction edge → shared ← cloud', () => {
  it('edge never imports cloud', () => {
    expect(violations('edge', ['cloud'])).toEqual([]);
  });
  it('shared imports neither cloud nor edge', () => {
    expect(violations('shared', ['cloud', 'edge'])).toEqual([]);
  });
  it('the checker itself sees a relative import into another top folder', () => {
    expect(topFolderOf(join(root, 'edge/agent/x.ts'), '../../cloud/y')).toBe('cloud');
    expect(topFolderOf(join(root, 'edge/agent/x.ts'), '../../shared/y')).toBe('shared');
    expect(topFolderOf(join(root, 'edge/agent/x.ts'), 'mqtt')).toBeNull();
  });
});
