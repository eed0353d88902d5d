// The dashboard's script: live updates from /api/v1/events, countdowns,
// local times, and the buttons (fetch to /api/v1). Hand-written, no
// library. Markup comes only from this node's own /fragments/ (escaped
// on the server); event data is written as text, never as markup.
'use strict';

(function () {
  const page = document.body.dataset.page || '';
  window.dashboardLoadedAt = Date.now();

  // ------------------------------------------------------------ messages

  const toast = document.getElementById('toast');
  let toastTimer = null;
  function say(text, bad) {
    if (!toast) return;
    toast.textContent = text;
    toast.className = bad ? 'bad' : '';
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, bad ? 8000 : 3000);
  }

  // ------------------------------------------------------------ times

  function ago(ms) {
    const s = Math.round(Math.abs(ms) / 1000);
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + (s % 60) + 's';
    const h = Math.floor(m / 60);
    if (h < 48) return h + 'h ' + (m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll('time.countdown')) {
      const at = Date.parse(el.getAttribute('datetime'));
      if (isNaN(at)) continue;
      const d = at - now;
      el.textContent = d > 0 ? 'in ' + ago(d) : 'due';
      el.title = new Date(at).toLocaleString();
    }
  }

  function localTimes(root) {
    for (const el of root.querySelectorAll('time:not(.countdown)')) {
      const at = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(at)) el.title = new Date(at).toLocaleString();
    }
  }

  // ------------------------------------------------------------ fragments

  // Fetches a section's markup again (at most one fetch in flight per
  // section; a change during a fetch fetches once more after it).
  const busy = new Map();
  async function refresh(el) {
    const url = el.dataset.fragment;
    if (!url) return;
    if (busy.has(el)) { busy.set(el, true); return; }
    busy.set(el, false);
    try {
      const resp = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
      if (resp.redirected && new URL(resp.url).pathname === '/login') {
        location.href = resp.url;
        return;
      }
      if (resp.status === 404 && el.tagName === 'TR') {
        el.classList.add('gone');
        el.querySelectorAll('button').forEach((b) => { b.disabled = true; });
        return;
      }
      const text = await resp.text();
      if (resp.ok) {
        el.innerHTML = text;
        localTimes(el);
        tick();
      }
    } catch (e) {
      // The node is unreachable: the live badge says so; try again later.
    } finally {
      const again = busy.get(el);
      busy.delete(el);
      if (again) refresh(el);
    }
  }

  const pending = new Map();
  function soon(el, ms) {
    if (pending.has(el)) return;
    pending.set(el, setTimeout(() => { pending.delete(el); refresh(el); }, ms));
  }

  function sections() {
    return Array.from(document.querySelectorAll('[data-fragment]'));
  }

  // Periodic refreshes (the cluster's members, the timeline's "now").
  for (const el of sections()) {
    const every = parseInt(el.dataset.refresh || '0', 10);
    if (every > 0) setInterval(() => refresh(el), every);
  }

  // ------------------------------------------------------------ events

  const live = document.getElementById('live');
  function liveState(text, cls) {
    if (!live) return;
    live.textContent = text;
    live.className = 'live ' + cls;
  }

  function onEvent(kind, data) {
    if (kind === 'leader') {
      const el = document.getElementById('leader');
      if (el && data && 'leader' in data) {
        el.dataset.leader = data.leader === null ? '' : String(data.leader);
        el.textContent = data.leader === null ? 'none known' : 'node ' + data.leader;
      }
      const c = document.getElementById('cluster');
      if (c) soon(c, 300);
      return;
    }
    if (kind === 'reset') {
      for (const el of sections()) soon(el, 200);
      return;
    }
    const job = data && data.job_id;
    for (const el of sections()) {
      if (el.dataset.job !== undefined) {
        if (job && el.dataset.job === job) soon(el, 150);
      } else if (el.dataset.on === 'occurrence') {
        if (kind.startsWith('occurrence_') || kind.startsWith('job_')) soon(el, 1000);
      } else if (page === 'job') {
        const title = document.getElementById('job-title');
        if (job && title && title.dataset.job === job) soon(el, 150);
      }
    }
    if (page === 'events') addTail(kind, data);
    if (page === 'jobs' && kind === 'job_added') {
      say('A job was added: ' + job + ' (reload to see it)');
    }
  }

  const tail = document.getElementById('event-tail');
  function addTail(kind, data) {
    if (!tail) return;
    const li = document.createElement('li');
    li.className = 'ev ' + kind;
    const t = document.createElement('time');
    t.textContent = (data && data.at ? data.at : new Date().toISOString()).replace('T', ' ').replace(/\.\d+Z$/, '');
    const k = document.createElement('span');
    k.className = 'kind';
    k.textContent = kind;
    li.append(t, ' ', k, ' ');
    if (data && data.job_id) {
      const a = document.createElement('a');
      a.href = '/jobs/' + encodeURIComponent(data.job_id);
      a.textContent = data.job_id;
      li.append(a, ' ');
    }
    const rest = [];
    if (data) {
      if (data.node_id !== null && data.node_id !== undefined) rest.push('node ' + data.node_id);
      if (data.fencing_token) rest.push('token ' + data.fencing_token);
      if (kind === 'leader') rest.push('leader ' + data.leader + ', term ' + data.term);
      if (data.cause) rest.push(data.cause);
      if (data.detail) rest.push(data.detail);
      if (data.by) rest.push('by ' + data.by);
    }
    const d = document.createElement('span');
    d.className = 'detail';
    d.textContent = rest.join(' · ');
    li.append(d);
    tail.prepend(li);
    while (tail.children.length > 500) tail.lastElementChild.remove();
  }

  const KINDS = ['job_added', 'job_modified', 'job_removed', 'occurrence_armed',
    'occurrence_started', 'occurrence_succeeded', 'occurrence_failed',
    'occurrence_timed_out', 'occurrence_missed', 'occurrence_skipped',
    'occurrence_retried', 'occurrence_cancelled', 'max_instances_reached',
    'scheduler_paused', 'scheduler_resumed', 'leader_changed', 'leader', 'reset'];

  if (page !== 'login' && page !== 'error' && window.EventSource) {
    const source = new EventSource('/api/v1/events');
    source.onopen = () => liveState('● live', 'on');
    source.onerror = () => liveState('○ reconnecting', 'off');
    for (const kind of KINDS) {
      source.addEventListener(kind, (e) => {
        let data = null;
        try { data = JSON.parse(e.data); } catch (err) { data = null; }
        onEvent(kind, data);
      });
    }
    window.addEventListener('pagehide', () => source.close());
  }

  // ------------------------------------------------------------ actions

  const VERBS = { pause: 'Pause', resume: 'Resume', run: 'Run now', delete: 'Delete' };

  async function act(button) {
    const verb = button.dataset.act;
    const job = button.dataset.job;
    if (!verb || job === undefined || !(verb in VERBS)) return;
    if (button.dataset.confirm && !window.confirm(VERBS[verb] + ' job ' + job + '?')) return;
    const base = '/api/v1/jobs/' + encodeURIComponent(job);
    const url = verb === 'delete' ? base : base + '/' + verb;
    button.disabled = true;
    try {
      const resp = await fetch(url, {
        method: verb === 'delete' ? 'DELETE' : 'POST',
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      let body = null;
      try { body = await resp.json(); } catch (e) { body = null; }
      if (!resp.ok) {
        const msg = body && body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + resp.status;
        say(VERBS[verb] + ' ' + job + ' failed: ' + msg, true);
        return;
      }
      if (verb === 'delete') {
        location.href = '/jobs';
        return;
      }
      say(verb === 'run' ? 'Started a run of ' + job : VERBS[verb] + 'd ' + job);
      // The events refresh it too; this is for a node whose stream lags.
      for (const el of sections()) {
        if (el.dataset.job === job || page === 'job') soon(el, 100);
      }
    } catch (e) {
      say(VERBS[verb] + ' ' + job + ' failed: ' + e, true);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    if (b) {
      e.preventDefault();
      act(b);
    }
  });

  localTimes(document);
  tick();
  setInterval(tick, 1000);
})();
