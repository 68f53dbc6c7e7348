import { api, stream } from '../api.js';
import { PALETTE, ago, badge, chart, fmt, h, section, table } from '../ui.js';

// Run sizes: `quick` is a minutes-long CPU demo (few KD steps, small batches); `full` uses the
// engine's defaults (see cloud/distill/config.ts).
const SIZES = {
  quick: { warmupEpochs: 0, kdStepsPerEpoch: 8, batchSize: 32, trainSetSize: 2000, synthesis: { batchSize: 32 } },
  full: {},
};

export async function render(main, { health }) {
  if (!health.components.distill) {
    main.append(section('Runs', h('p', { class: 'muted' }, 'Distillation is not available in this cloud.')));
    return;
  }
  const teachers = health.components.teachers ? await api('/api/teachers') : [];
  const form = h('form', { class: 'inline', id: 'new-run', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements; // by name (form.method, form.action would be the form's own properties)
    const body = { teacherId: f.teacher.value, student: f.student.value, method: f.method.value, budget: Number(f.budget.value), epochs: Number(f.epochs.value), export: f.export.checked, config: SIZES[f.size.value] };
    try {
      const run = await api('/api/runs', { method: 'POST', body });
      location.hash = `#/runs/${run.id}`;
    } catch (err) {
      e.target.querySelector('.error').textContent = err.message;
    }
  } },
  h('label', {}, 'teacher', h('select', { name: 'teacher' }, teachers.filter((t) => t.status === 'ready').map((t) => h('option', { value: t.id }, t.name)))),
  h('label', {}, 'student', h('input', { name: 'student', value: 'lenet5-half', size: 14 })),
  h('label', {}, 'method', h('select', { name: 'method' }, ['ssdkd', 'fast', 'fast-budget', 'deepinv', 'noise'].map((m) => h('option', {}, m)))),
  h('label', {}, 'budget', h('input', { name: 'budget', type: 'number', step: '0.01', min: '0.01', max: '1', value: '0.1', size: 5 })),
  h('label', {}, 'epochs', h('input', { name: 'epochs', type: 'number', min: '1', value: '2', size: 4 })),
  h('label', {}, 'size', h('select', { name: 'size' }, Object.keys(SIZES).map((k) => h('option', {}, k)))),
  h('label', {}, 'export int8', h('input', { name: 'export', type: 'checkbox', checked: true })),
  h('button', { type: 'submit' }, 'Start run'), h('span', { class: 'error' }));
  main.append(section('New distillation run', form));
  const list = h('div');
  main.append(section('Runs', list));
  const refresh = async () => {
    const rows = await api('/api/runs');
    list.replaceChildren(table([
      { label: 'run', render: (r) => h('a', { class: 'run-link', href: `#/runs/${r.id}`, title: r.id }, r.id.slice(0, 8)) },
      { label: 'state', render: (r) => badge(r.state) },
      { label: 'teacher', key: 'teacherId' },
      { label: 'student', key: 'student' },
      { label: 'method', key: 'method' },
      { label: 'progress', render: (r) => h('span', { class: 'progress' }, progressText(r.progress)) },
      { label: 'created', render: (r) => ago(r.createdAt) },
    ], rows, (r, e) => {
      // The id cell is the link (keyboard and middle-click); a click elsewhere on the row follows it too.
      if (!e.target.closest('a')) location.hash = `#/runs/${r.id}`;
    }));
  };
  await refresh();
  const t = setInterval(() => refresh().catch(() => {}), 3000);
  return () => clearInterval(t);
}

const pct = (v) => `${(100 * v).toFixed(1)}%`;

/**
 * The list view's progress cell from the run's last progress event: where the run is (epoch, step)
 * and what it has reached (accuracy), or the phase's own message; never the bare event type.
 */
export function progressText(p) {
  if (!p) return '–';
  const epoch = typeof p.epoch === 'number' ? `epoch ${p.epoch}${typeof p.epochs === 'number' ? `/${p.epochs}` : ''}` : '';
  switch (p.type) {
    case 'phase': return p.message ? `${p.phase}: ${p.message}` : String(p.phase ?? '');
    case 'epoch': return [epoch, typeof p.accuracy === 'number' ? `accuracy ${pct(p.accuracy)}` : ''].filter(Boolean).join(' · ');
    case 'step': return [epoch, typeof p.x === 'number' ? `step ${p.x}` : typeof p.step === 'number' ? `step ${p.step}` : ''].filter(Boolean).join(' · ');
    case 'buffer': return [epoch, typeof p.size === 'number' ? `buffer ${p.size}/${p.capacity ?? '?'}` : 'buffer'].filter(Boolean).join(' · ');
    case 'samples': return [epoch, 'samples'].filter(Boolean).join(' · ');
    default: return epoch || String(p.type ?? '–');
  }
}

/** One run: live loss curves, accuracy per epoch, buffer class histogram, synthetic-sample gallery. */
export async function renderRun(main, { params: [id] }) {
  const run = await api(`/api/runs/${id}`);
  const head = h('div');
  const actions = h('div', { class: 'inline' });
  const setHead = (r) => {
    head.replaceChildren(h('p', {}, 'run ', h('code', {}, r.id), ' ', badge(r.state), ` teacher ${r.teacherId} → ${r.student} (${r.method}), attempt ${r.attempt}`),
      r.error ? h('p', { class: 'error' }, `${r.error.code}: ${r.error.message}`) : '',
      r.result ? h('pre', {}, JSON.stringify(r.result, null, 1)) : '');
    actions.replaceChildren(
      h('button', { id: 'cancel-run', class: 'secondary', disabled: !['queued', 'running'].includes(r.state), onclick: () => api(`/api/runs/${id}/cancel`, { method: 'POST' }).then(setHead) }, 'Cancel'),
      ' ',
      h('button', { id: 'resume-run', class: 'secondary', disabled: !['failed', 'cancelled'].includes(r.state), onclick: () => api(`/api/runs/${id}/resume`, { method: 'POST' }).then((x) => { setHead(x); location.reload(); }) }, 'Resume'));
  };
  setHead(run);
  main.append(section('Run', head, actions));

  const grid = h('div', { class: 'grid' });
  main.append(grid);
  const lossBox = h('section', { id: 'loss-chart' }, h('h2', {}, 'Loss terms'));
  const accBox = h('section', { id: 'accuracy-chart' }, h('h2', {}, 'Student test accuracy per epoch'));
  const histBox = h('section', { id: 'buffer-chart' }, h('h2', {}, 'Replay buffer: class histogram'));
  const prioBox = h('section', { id: 'priority-chart' }, h('h2', {}, 'Priority sampling'));
  grid.append(lossBox, accBox, histBox, prioBox);
  const gallery = h('div', { class: 'gallery', id: 'gallery' }, h('span', { class: 'muted' }, 'no samples yet'));
  const phases = h('ul', { id: 'phases' });
  main.append(section('Synthetic samples from the replay buffer', gallery), section('Phases', phases));

  const loss = chart(lossBox, { type: 'line', data: { datasets: [] }, options: { scales: { x: { type: 'linear', title: { display: true, text: 'step' } } }, elements: { point: { radius: 0 } } } });
  const acc = chart(accBox, { type: 'line', data: { labels: [], datasets: [{ label: 'accuracy', data: [], borderColor: PALETTE[2] }] }, options: { scales: { y: { min: 0, max: 1 } } } });
  const hist = chart(histBox, { type: 'bar', data: { labels: [], datasets: [{ label: 'samples in buffer', data: [], backgroundColor: PALETTE[0] }] } });
  const prio = chart(prioBox, { type: 'line', data: { datasets: [] }, options: { scales: { x: { type: 'linear', title: { display: true, text: 'epoch' } } } } });
  const series = (c, name) => {
    let ds = c.data.datasets.find((d) => d.label === name);
    if (!ds) c.data.datasets.push((ds = { label: name, data: [], borderColor: PALETTE[c.data.datasets.length % PALETTE.length], borderWidth: 1.5 }));
    return ds;
  };
  let dirty = new Set();
  const flush = setInterval(() => { for (const c of dirty) c.update('none'); dirty = new Set(); }, 250);

  const es = stream(`/api/runs/${id}/stream`, {
    state: (job) => setHead({ ...run, ...job, teacherId: run.teacherId, student: run.student, method: run.method }),
    step: (e) => {
      // Synthesis and KD steps interleave; each series keeps its own points on one step axis.
      for (const [name, v] of Object.entries(e.losses || {})) if (typeof v === 'number') series(loss, name).data.push({ x: e.x ?? e.seq, y: v });
      dirty.add(loss);
    },
    epoch: (e) => {
      if (typeof e.accuracy === 'number') { acc.data.labels.push(e.epoch); acc.data.datasets[0].data.push(e.accuracy); dirty.add(acc); }
    },
    buffer: (e) => {
      if (Array.isArray(e.histogram)) { hist.data.labels = e.histogram.map((_, i) => (e.labels && e.labels[i]) || String(i)); hist.data.datasets[0].data = e.histogram; dirty.add(hist); }
      if (e.priority) {
        for (const [k, v] of Object.entries(e.priority)) if (typeof v === 'number') series(prio, k).data.push({ x: e.epoch ?? e.seq, y: v });
        dirty.add(prio);
      }
    },
    samples: (e) => {
      gallery.replaceChildren(...(e.images || []).map((im) => h('figure', {}, h('img', { src: im.png, alt: `class ${im.label}` }), h('figcaption', {}, im.labelName ?? im.label))));
    },
    phase: (e) => phases.append(h('li', {}, `${new Date(e.at).toLocaleTimeString()} ${e.phase}: ${e.message ?? ''}`)),
  });
  return () => { es.close(); clearInterval(flush); };
}
