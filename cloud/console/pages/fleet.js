import { api } from '../api.js';
import { ago, badge, h, section, table } from '../ui.js';

/** Fleet: every device's state, model version, execution provider, last seen; rollouts. */
export async function render(main, { health }) {
  if (!health.components.fleet) {
    main.append(section('Fleet', h('p', { class: 'muted' }, 'The fleet controller is not available in this cloud.')));
    return;
  }
  const devBox = h('div', { id: 'devices' });
  const roBox = h('div', { id: 'rollouts' });
  const pkgs = health.components.packages ? await api('/api/packages') : [];
  const form = h('form', { class: 'inline', id: 'new-rollout', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements; // by name (form.method, form.action would be the form's own properties)
    const target = f.group.value ? { groups: [f.group.value] } : { devices: f.devices.value.split(',').map((s) => s.trim()).filter(Boolean) };
    try {
      const ro = await api('/api/rollouts', { method: 'POST', body: { packageId: f.package.value, target, bakeMs: Number(f.bake.value) } });
      location.hash = `#/rollouts/${ro.id}`;
    } catch (err) {
      e.target.querySelector('.error').textContent = err.message;
    }
  } },
  h('label', {}, 'package', pkgs.length
    ? h('select', { name: 'package' }, pkgs.map((p) => h('option', { value: p.id }, `${p.name} v${p.version} (${p.precision})`)))
    : h('input', { name: 'package', placeholder: 'package id' })),
  h('label', {}, 'group', h('input', { name: 'group', value: 'demo', size: 10 })),
  h('label', {}, 'or devices', h('input', { name: 'devices', placeholder: 'id1,id2', size: 16 })),
  h('label', {}, 'bake ms', h('input', { name: 'bake', type: 'number', value: '2000', size: 6 })),
  h('button', { type: 'submit' }, 'Start rollout'), h('span', { class: 'error' }));
  main.append(section('Devices', devBox), section('New rollout (canary, then waves)', form), section('Rollouts', roBox));
  const refresh = async () => {
    const [devices, rollouts] = await Promise.all([api('/api/devices'), api('/api/rollouts')]);
    devBox.replaceChildren(table([
      { label: 'device', key: 'id' },
      { label: 'presence', render: (d) => badge(d.online ? 'online' : 'offline') },
      { label: 'state', render: (d) => badge(d.state) },
      { label: 'model version', key: 'modelVersion' },
      { label: 'execution provider', key: 'executionProvider' },
      { label: 'groups', render: (d) => (d.groups || []).join(', ') },
      { label: 'last seen', render: (d) => ago(d.lastSeen) },
    ], devices));
    roBox.replaceChildren(table([
      { label: 'rollout', render: (r) => r.id.slice(0, 8) },
      { label: 'status', render: (r) => badge(r.status) },
      { label: 'package', render: (r) => r.packageId ?? (r.spec && r.spec.packageId) ?? '–' },
      { label: 'created', render: (r) => ago(r.createdAt) },
    ], rollouts, (r) => (location.hash = `#/rollouts/${r.id}`)));
  };
  await refresh();
  const t = setInterval(() => refresh().catch(() => {}), 1500);
  return () => clearInterval(t);
}
