// Small DOM helpers: build elements from data without innerHTML on untrusted strings.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const badge = (s) => h('span', { class: `state ${s}` }, s ?? '–');
export const ago = (t) => (t ? `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago` : '–');
export const fmt = (v, d = 3) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(d)) : v ?? '–');

export function table(columns, rows, onClick) {
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'none yet'))
      : rows.map((r) => h('tr', { class: onClick ? 'clickable' : '', 'data-id': r.id, onclick: onClick ? (e) => onClick(r, e) : undefined },
        columns.map((c) => h('td', {}, c.render ? c.render(r) : fmt(r[c.key])))))));
}

export function section(title, ...children) {
  return h('section', {}, h('h2', {}, title), ...children);
}

/** A Chart.js chart in a sized box; returns the Chart. */
export function chart(container, config) {
  const canvas = h('canvas');
  container.append(h('div', { class: 'chart' }, canvas));
  return new window.Chart(canvas, { ...config, options: { animation: false, maintainAspectRatio: false, responsive: true, ...config.options } });
}

export const PALETTE = ['#2f6fde', '#d64545', '#1f9d55', '#c98a00', '#8a4fd6', '#1d9bb5', '#e0712b', '#5c6a80', '#b5338a', '#6d9e1f'];
