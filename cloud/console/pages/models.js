import { api } from '../api.js';
import { ago, badge, fmt, h, section, table } from '../ui.js';

const KINDS = [['teacher', 'Teachers'], ['drift-alarm', 'Drift alarms'], ['run', 'Runs'], ['student', 'Students'], ['package', 'Packages'], ['rollout', 'Rollouts']];

/** Models: the lineage graph (teacher → run → student → package → rollouts) and the package list. */
export async function render(main, { health }) {
  const graphBox = h('div', { class: 'lineage', id: 'lineage' });
  main.append(section('Lineage', graphBox));
  const pkgBox = h('div');
  main.append(section('Model packages', pkgBox));
  const draw = async () => {
    const g = await api('/api/lineage');
    const cols = KINDS.filter(([k]) => g.nodes.some((n) => n.kind === k));
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    graphBox.replaceChildren(svg, ...cols.map(([kind, title]) => h('div', { class: 'col' }, h('h3', {}, title),
      g.nodes.filter((n) => n.kind === kind).map((n) => h('div', { class: 'node', 'data-node': n.id }, n.label, ' ', n.state ? badge(n.state) : '')))));
    // Edges drawn after layout, from the boxes' positions.
    requestAnimationFrame(() => {
      const box = graphBox.getBoundingClientRect();
      svg.setAttribute('width', String(graphBox.scrollWidth));
      svg.setAttribute('height', String(graphBox.scrollHeight));
      for (const e of g.edges) {
        const a = graphBox.querySelector(`[data-node="${CSS.escape(e.from)}"]`);
        const b = graphBox.querySelector(`[data-node="${CSS.escape(e.to)}"]`);
        if (!a || !b) continue;
        const ra = a.getBoundingClientRect();
        const rb = b.getBoundingClientRect();
        const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
        line.setAttribute('x1', String(ra.right - box.left + graphBox.scrollLeft));
        line.setAttribute('y1', String(ra.top + ra.height / 2 - box.top));
        line.setAttribute('x2', String(rb.left - box.left + graphBox.scrollLeft));
        line.setAttribute('y2', String(rb.top + rb.height / 2 - box.top));
        line.setAttribute('stroke', '#9aa3b5');
        const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
        title.textContent = e.label;
        line.append(title);
        svg.append(line);
      }
    });
    if (health.components.packages) {
      const pkgs = await api('/api/packages');
      pkgBox.replaceChildren(table([
        { label: 'package', key: 'name' },
        { label: 'version', key: 'version' },
        { label: 'precision', key: 'precision' },
        { label: 'bytes', key: 'bytes' },
        { label: 'sha256', render: (p) => p.sha256.slice(0, 12) },
        { label: 'run', render: (p) => (p.runId ? p.runId.slice(0, 8) : '–') },
        { label: 'int8 accuracy', render: (p) => fmt(p.metrics && (p.metrics.int8Accuracy ?? p.metrics.accuracy)) },
        { label: 'created', render: (p) => ago(p.createdAt) },
      ], pkgs));
    } else pkgBox.replaceChildren(h('p', { class: 'muted' }, 'The package catalog is not available in this cloud.'));
  };
  await draw();
  const t = setInterval(() => draw().catch(() => {}), 5000);
  return () => clearInterval(t);
}
