import { api } from '../api.js';
import { PALETTE, badge, chart, fmt, h, section, table } from '../ui.js';

const DEVICE_STATES = ['queued', 'offered', 'in_progress', 'committed', 'failed', 'rejected', 'timed_out', 'rolling_back', 'rolled_back'];

// Which family each gate of cloud/fleet/rollout/gates.ts belongs to, and which way its threshold points.
const GATE_KIND = {
  installSuccess: { kind: 'install', cmp: '≥', unit: '%' },
  failurePercent: { kind: 'install', cmp: '≤', unit: '%' },
  errorRate: { kind: 'health', cmp: '≤', unit: '' },
  p95Latency: { kind: 'health', cmp: '≤', unit: ' ms' },
  shadowAgreement: { kind: 'ml', cmp: '≥', unit: '' },
  confidenceShift: { kind: 'ml', cmp: '≤', unit: '' },
};

/** The gate results of one family a wave was judged on: name, measured value, threshold, outcome. */
function gateList(w, kind) {
  if (!w.verdict) return h('span', { class: 'muted' }, 'not judged yet');
  const gates = (w.verdict.results || []).filter((g) => (GATE_KIND[g.gate] ? GATE_KIND[g.gate].kind : 'health') === kind);
  if (gates.length === 0) return h('span', { class: 'muted' }, 'none configured');
  return h('ul', { class: 'gates' }, gates.map((g) => {
    const k = GATE_KIND[g.gate] || { cmp: 'vs', unit: '' };
    const value = g.value === null || g.value === undefined ? 'no data' : `${fmt(g.value)}${k.unit}`;
    return h('li', { class: 'gate', 'data-gate': g.gate, 'data-outcome': g.outcome },
      badge(g.outcome), ` ${g.gate} `, h('span', { class: 'gate-value' }, value), ` (${k.cmp} `, h('span', { class: 'gate-threshold' }, `${fmt(g.threshold)}${k.unit}`), ')');
  }));
}

/** One rollout: waves with their gate values, device states per wave, rollbacks; pause/resume/abort. */
export async function render(main, { params: [id] }) {
  const head = h('div', { id: 'rollout-head' });
  const actions = h('div');
  const wavesBox = h('div', { id: 'waves' });
  const devBox = h('div', { id: 'rollout-devices' });
  const chartBox = h('section', { id: 'wave-chart' }, h('h2', {}, 'Device states per wave'));
  main.append(section('Rollout', head, actions), chartBox, section('Waves and gates', wavesBox), section('Devices', devBox));
  const bars = chart(chartBox, { type: 'bar', data: { labels: [], datasets: DEVICE_STATES.map((s, i) => ({ label: s, data: [], backgroundColor: PALETTE[i % PALETTE.length] })) }, options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } } });
  const act = (verb) => api(`/api/rollouts/${id}/${verb}`, { method: 'POST', body: verb === 'abort' ? { reason: 'aborted from the console' } : undefined }).then(draw);

  async function draw() {
    const r = await api(`/api/rollouts/${id}`);
    const devices = Object.entries(r.devices || {}).map(([deviceId, d]) => ({ id: deviceId, ...d }));
    head.replaceChildren(h('p', {}, 'rollout ', h('code', {}, r.id), ' ', badge(r.status), ` package ${r.packageId ?? (r.spec && r.spec.packageId) ?? '?'}`),
      r.rollbackReason || r.reason ? h('p', { class: 'error', id: 'rollback-reason' }, `rollback: ${r.rollbackReason ?? ''} ${r.reason ?? ''}`) : '');
    actions.replaceChildren(
      h('button', { class: 'secondary', id: 'pause', disabled: r.status !== 'running', onclick: () => act('pause') }, 'Pause'), ' ',
      h('button', { class: 'secondary', id: 'resume', disabled: r.status !== 'paused', onclick: () => act('resume') }, 'Resume'), ' ',
      h('button', { class: 'secondary', id: 'abort', disabled: !['running', 'paused', 'created'].includes(r.status), onclick: () => act('abort') }, 'Abort'));
    const waves = r.waves || [];
    wavesBox.replaceChildren(table([
      { label: 'wave', render: (w) => (w.index === 0 ? 'canary' : String(w.index)) },
      { label: 'phase', render: (w) => badge(w.phase) },
      { label: 'devices', render: (w) => String((w.deviceIds || []).length) },
      { label: 'install gates', render: (w) => gateList(w, 'install') },
      { label: 'health gates', render: (w) => gateList(w, 'health') },
      { label: 'ML-quality gates', render: (w) => gateList(w, 'ml') },
    ], waves.map((w) => ({ ...w, id: String(w.index) }))));
    devBox.replaceChildren(table([
      { label: 'device', key: 'id' },
      { label: 'wave', key: 'wave' },
      { label: 'state', render: (d) => badge(d.state) },
      { label: 'step', key: 'step' },
      { label: 'error', key: 'errorCode' },
    ], devices));
    bars.data.labels = waves.map((w) => (w.index === 0 ? 'canary' : `wave ${w.index}`));
    DEVICE_STATES.forEach((s, i) => { bars.data.datasets[i].data = waves.map((w) => devices.filter((d) => d.wave === w.index && d.state === s).length); });
    bars.update('none');
  }
  await draw();
  const t = setInterval(() => draw().catch(() => {}), 1000);
  return () => clearInterval(t);
}
