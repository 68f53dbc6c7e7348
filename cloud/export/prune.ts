import type { IrGraph } from './onnx-ir';

/** Drops nodes and initializers that no graph output depends on (unused probe layers, for example). */
export function pruneDeadNodes(g: IrGraph): void {
  const live = new Set(g.outputs.map((o) => o.name));
  const keep: boolean[] = new Array(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => live.has(o))) {
      keep[i] = true;
      for (const x of n.inputs) if (x) live.add(x);
    }
  }
  g.nodes = g.nodes.filter((_, i) => keep[i]);
  for (const k of [...g.initializers.keys()]) if (!live.has(k)) g.initializers.delete(k);
}
