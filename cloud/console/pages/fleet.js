import { api } from '../api.js';
import { ago, badge, h, section, table } from '../ui.js';

const list = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);

/**
 * Provisioning for admins: add a device (its credentials are shown here once and never again) and
 * revoke one (after a confirmation). The table refreshes on its own.
 */
function provisioning(refresh) {
  const shown = h('div', { id: 'new-device-credentials' });
  const form = h('form', { class: 'inline', id: 'new-device', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const error = e.target.querySelector('.error');
    error.textContent = '';
    try {
      const c = await api('/api/devices', { method: 'POST', body: { deviceId: f.deviceId.value.trim(), groups: list(f.groups.value), tags: list(f.tags.value) } });
      shown.replaceChildren(h('p', {}, `Credentials of ${c.deviceId}, shown once (only a hash is stored). Put them in the agent's config (mqtt.username, mqtt.password):`),
        h('pre', {}, 'username  ', h('span', { class: 'username' }, c.username), '\npassword  ', h('span', { class: 'password' }, c.password)));
      e.target.reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  } },
  h('label', {}, 'device id', h('input', { name: 'deviceId', required: true, size: 16, placeholder: 'cam-42' })),
  h('label', {}, 'groups', h('input', { name: 'groups', size: 14, placeholder: 'yard,eu' })),
  h('label', {}, 'tags', h('input', { name: 'tags', size: 14, placeholder: 'cam' })),
  h('button', { type: 'submit' }, 'Add device'), h('span', { class: 'error' }));
  return { form, shown };
}

async function revoke(device, refresh, errorBox) {
  if (!confirm(`Revoke ${device.id}? It will be disconnected and refused from now on.`)) return;
  try {
    await api(`/api/devices/${encodeURIComponent(device.id)}/revoke`, { method: 'POST' });
    errorBox.textContent = '';
    await refresh();
  } catch (err) {
    errorBox.textContent = err.message;
  }
}

/** Fleet: every device's state, model version, execution provider, last seen; rollouts. */
export async function render(main, { health, me }) {
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
      // ML-quality gates are optional: a blank field leaves the gate out of the rollout's spec.
      const gates = {};
      if (f.shadow.value !== '') gates.minShadowAgreement = Number(f.shadow.value);
      if (f.confidence.value !== '') gates.maxConfidenceShift = Number(f.confidence.value);
      const body = { packageId: f.package.value, target, bakeMs: Number(f.bake.value), ...(Object.keys(gates).length ? { gates } : {}) };
      const ro = await api('/api/rollouts', { method: 'POST', body });
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
  h('label', {}, 'min shadow agreement', h('input', { name: 'shadow', type: 'number', step: '0.01', min: '0', max: '1', placeholder: 'off', size: 5 })),
  h('label', {}, 'max confidence shift', h('input', { name: 'confidence', type: 'number', step: '0.01', min: '0', max: '1', placeholder: 'off', size: 5 })),
  h('button', { type: 'submit' }, 'Start rollout'), h('span', { class: 'error' }));
  const canProvision = Boolean(health.components.devices) && me && me.role === 'admin';
  const devError = h('p', { class: 'error', id: 'devices-error' });
  const refresh = async () => {
    const [devices, rollouts] = await Promise.all([api('/api/devices'), api('/api/rollouts')]);
    const actions = canProvision
      ? [{ label: '', render: (d) => (d.state === 'revoked' ? '' : h('button', { class: 'revoke', type: 'button', onclick: (e) => { e.stopPropagation(); revoke(d, refresh, devError); } }, 'Revoke')) }]
      : [];
    devBox.replaceChildren(table([
      { label: 'device', key: 'id' },
      { label: 'presence', render: (d) => badge(d.online ? 'online' : 'offline') },
      { label: 'state', render: (d) => badge(d.state) },
      { label: 'model version', key: 'modelVersion' },
      { label: 'execution provider', key: 'executionProvider' },
      { label: 'groups', render: (d) => (d.groups || []).join(', ') },
      { label: 'last seen', render: (d) => ago(d.lastSeen) },
      ...actions,
    ], devices));
    roBox.replaceChildren(table([
      { label: 'rollout', render: (r) => r.id.slice(0, 8) },
      { label: 'status', render: (r) => badge(r.status) },
      { label: 'package', render: (r) => r.packageId ?? (r.spec && r.spec.packageId) ?? '–' },
      { label: 'created', render: (r) => ago(r.createdAt) },
    ], rollouts, (r) => (location.hash = `#/rollouts/${r.id}`)));
  };
  const adding = canProvision ? provisioning(refresh) : null;
  main.append(section('Devices', devBox, devError), ...(adding ? [section('Add a device', adding.form, adding.shown)] : []), section('New rollout (canary, then waves)', form), section('Rollouts', roBox));
  await refresh();
  const t = setInterval(() => refresh().catch(() => {}), 1500);
  return () => clearInterval(t);
}
