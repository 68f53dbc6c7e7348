import { api } from '../api.js';
import { PALETTE, ago, badge, chart, fmt, h, section, table } from '../ui.js';

const pick = (o, keys) => keys.map((k) => o[k]).find((v) => v !== undefined);

/** Drift: per cohort, per device scores, alarms, and the retrains they triggered. */
export async function render(main, { health }) {
  if (!health.components.drift) {
    main.append(section('Drift', h('p', { class: 'muted' }, 'Drift aggregation is not available in this cloud.')));
    return;
  }
  const cohortBox = h('div', { id: 'cohorts' });
  const alarmBox = h('div', { id: 'alarms' });
  const retrainBox = h('div', { id: 'retrains' });
  const policyBox = h('pre', { id: 'policy' });
  const scoreBox = h('section', { id: 'drift-chart' }, h('h2', {}, 'Drift score per device'));
  main.append(section('Cohorts', cohortBox), scoreBox, section('Alarms', alarmBox), section('Automatic retrains', retrainBox), section('Retrain policy', policyBox));
  const scores = chart(scoreBox, { type: 'bar', data: { labels: [], datasets: [{ label: 'score', data: [], backgroundColor: PALETTE[1] }] } });
  const refresh = async () => {
    const [cohorts, alarms, devices] = await Promise.all([api('/api/drift/cohorts'), api('/api/drift/alarms'), api('/api/drift/devices')]);
    cohortBox.replaceChildren(table([
      { label: 'cohort', key: 'id' },
      { label: 'state', render: (c) => badge(c.alarm ? 'alarm' : pick(c, ['state', 'status']) ?? 'ok') },
      { label: 'devices', render: (c) => fmt(pick(c, ['devices', 'deviceCount'])) },
      { label: 'alarming', render: (c) => fmt(pick(c, ['alarmingDevices', 'alarming'])) },
      { label: 'score', render: (c) => fmt(pick(c, ['score', 'meanScore'])) },
    ], cohorts));
    alarmBox.replaceChildren(table([
      { label: 'alarm', key: 'id' },
      { label: 'cohort', key: 'cohort' },
      { label: 'reason', render: (a) => pick(a, ['reason', 'detector']) ?? '–' },
      { label: 'raised', render: (a) => ago(pick(a, ['raisedAt', 'at', 'createdAt'])) },
    ], alarms));
    scores.data.labels = devices.map((d) => d.id);
    scores.data.datasets[0].data = devices.map((d) => pick(d, ['score', 'driftScore']) ?? 0);
    scores.update('none');
    if (health.components.retrain) {
      const [history, policy] = await Promise.all([api('/api/retrain/history'), api('/api/retrain/policy')]);
      retrainBox.replaceChildren(table([
        { label: 'action', key: 'id' },
        { label: 'state', render: (r) => badge(pick(r, ['state', 'status'])) },
        { label: 'reason', key: 'reason' },
        { label: 'run', render: (r) => (r.runId ? h('a', { href: `#/runs/${r.runId}` }, r.runId.slice(0, 8)) : '–') },
        { label: 'package', key: 'packageId' },
        { label: 'rollout', render: (r) => (r.rolloutId ? h('a', { href: `#/rollouts/${r.rolloutId}` }, r.rolloutId.slice(0, 8)) : '–') },
      ], history));
      policyBox.textContent = JSON.stringify(policy, null, 2);
    } else {
      retrainBox.replaceChildren(h('p', { class: 'muted' }, 'The retrain policy is not available in this cloud.'));
    }
  };
  await refresh();
  const t = setInterval(() => refresh().catch(() => {}), 2000);
  return () => clearInterval(t);
}
