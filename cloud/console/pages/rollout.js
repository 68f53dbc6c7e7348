import { api } from '../api.js';
import { PALETTE, badge, chart, fmt, h, section, table } from '../ui.js';

const DEVICE_STATES = ['queued', 'offered', 'in_progress', 'committed', 'failed', 'rejected', 'timed_out', 'rolling_back', 'rolled_back'];

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
      { label: 'gates', render: (w) => h('span', {}, ((w.verdict && w.verdict.results) || []).map((g) => h('span', {}, badge(g.outcome), ` ${g.gate} ${fmt(g.value)} / ${fmt(g.threshold)}  `))) },
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
