import { api, token } from './api.js';
import { h } from './ui.js';
import * as runs from './pages/runs.js';
import * as models from './pages/models.js';
import * as fleet from './pages/fleet.js';
import * as rollout from './pages/rollout.js';
import * as drift from './pages/drift.js';

const routes = [
  [/^#\/runs\/([^/]+)$/, runs.renderRun, 'runs'],
  [/^#\/runs$/, runs.render, 'runs'],
  [/^#\/models$/, models.render, 'models'],
  [/^#\/fleet$/, fleet.render, 'fleet'],
  [/^#\/rollouts\/([^/]+)$/, rollout.render, 'fleet'],
  [/^#\/drift$/, drift.render, 'drift'],
];

let cleanup = () => {};
let health = null;
let me = null;

function banner(text) {
  const b = document.getElementById('banner');
  b.hidden = !text;
  b.textContent = text || '';
}

async function route() {
  cleanup();
  cleanup = () => {};
  const main = document.getElementById('page');
  main.replaceChildren();
  const hash = location.hash || '#/runs';
  const hit = routes.find(([re]) => re.test(hash));
  if (!hit) return void (location.hash = '#/runs');
  const [re, render, nav] = hit;
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
  try {
    const params = hash.match(re).slice(1).map(decodeURIComponent);
    cleanup = (await render(main, { health, me, params })) || (() => {});
  } catch (e) {
    main.append(h('p', { class: 'error' }, String(e.message || e)));
  }
}

async function start() {
  if (!token()) {
    document.getElementById('page').append(
      h('section', {}, h('h2', {}, 'Sign in'),
        h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); sessionStorage.setItem('edgekd.token', e.target.token.value); location.reload(); } },
          h('label', {}, 'API token', h('input', { name: 'token', type: 'password', size: 40 })), h('button', {}, 'Open'))),
    );
    return;
  }
  health = await fetch('/api/health').then((r) => r.json());
  me = await api('/api/me');
  document.getElementById('who').textContent = `${me.name} (${me.role})`;
  const missing = Object.entries(health.components).filter(([, on]) => !on).map(([k]) => k);
  banner(missing.length ? `This cloud runs without: ${missing.join(', ')} — their pages say so instead of showing data.` : '');
  window.addEventListener('hashchange', route);
  await route();
}

start().catch((e) => banner(`console failed to start: ${e.message || e}`));
