// The dashboard: renders the views from the server's event stream and calls the JSON API.
// Everything is built with DOM calls and textContent, never HTML strings: names and log lines
// come from remote machines.
'use strict';

const view = document.body.dataset.view;
const mayControl = document.body.dataset.control === 'yes';  // start, stop, restart
const mayManage = document.body.dataset.manage === 'yes';  // signals, reread & update, audit log
const SIGNALS = document.body.dataset.signals.split(' ');  // fleet/actions.py
const xsrf = document.querySelector('meta[name="xsrf-token"]').content;
const TAIL_EVERY = 1000;  // ms between log polls
const TAIL_KEEP = 200000;  // characters of log kept on screen

// Points per sparkline, as many as the server keeps (fleet/state.py).
const HISTORY = Number(document.body.dataset.history);
const PROCESS_HISTORY = Number(document.body.dataset.processHistory);
const fleet = {servers: {}, groups: [], processes: {}, history: {}, processHistory: {}, clockOffset: 0};
const selected = new Set();

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.dataset[key.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = value;
    else if (key === 'checked' || key === 'disabled' || key === 'hidden') node[key] = Boolean(value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// --- the live state -------------------------------------------------------------------------

function connect() {
  const live = document.getElementById('live');
  const source = new EventSource('/api/events');
  source.addEventListener('snapshot', (event) => {
    const data = JSON.parse(event.data);
    fleet.servers = Object.fromEntries(data.servers.map((s) => [s.name, s]));
    fleet.groups = data.groups;
    fleet.processes = Object.fromEntries(data.processes.map((p) => [p.id, p]));
    fleet.history = data.history;
    fleet.processHistory = data.process_history;
    tick(data.now);
    render();
  });
  source.addEventListener('stats', (event) => showStats(JSON.parse(event.data)));
  source.addEventListener('update', (event) => {
    const data = JSON.parse(event.data);
    const serverChanged = JSON.stringify(fleet.servers[data.server.name]) !== JSON.stringify(data.server);
    const added = data.changed.some((p) => !(p.id in fleet.processes));
    fleet.servers[data.server.name] = data.server;
    for (const p of data.changed) fleet.processes[p.id] = p;
    for (const id of data.removed) delete fleet.processes[id];
    tick(data.now);
    if (serverChanged || added || data.removed.length || !patchRows(data.changed)) render();
  });
  source.addEventListener('alert', (event) => notify.alert(JSON.parse(event.data)));
  source.onopen = () => { live.textContent = 'live'; live.className = 'live on'; };
  // EventSource reconnects by itself and then gets a fresh snapshot.
  source.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'live off'; };
}

function tick(serverNow) {
  fleet.clockOffset = serverNow - Date.now() / 1000;
}

function uptime(process) {
  if (process.started_at === null) return '';
  let seconds = Math.max(0, Math.floor(Date.now() / 1000 + fleet.clockOffset - process.started_at));
  const days = Math.floor(seconds / 86400);
  seconds %= 86400;
  const hms = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60]
    .map((n, i) => (i ? String(n).padStart(2, '0') : String(n))).join(':');
  return days ? `${days}d ${hms}` : hms;
}

// --- CPU and memory (servers with the fleet RPC extension) ----------------------------------

function cpuText(cpu) { return cpu === null || cpu === undefined ? '' : `${cpu.toFixed(1)}%`; }
function memText(kb) { return kb === null || kb === undefined ? '' : `${(kb / 1024).toFixed(kb < 10240 ? 1 : 0)} MB`; }

function sparkline(values, label) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 100 20');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const top = Math.max(...values, 1e-9);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', values.map((v, i) =>
    `${(100 * i / Math.max(values.length - 1, 1)).toFixed(1)},${(19 - 18 * v / top).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}

// A host's total CPU and memory now, with sparklines of the last minutes.
function hostStats(name) {
  const points = fleet.history[name] || [];
  if (!points.length) return null;
  const [, cpu, kb] = points[points.length - 1];
  return el('span', {class: 'host-stats', 'data-host-stats': name},
    `CPU ${cpuText(cpu)}`, sparkline(points.map((p) => p[1]), `CPU of ${name}, last minutes`),
    `memory ${memText(kb)}`, sparkline(points.map((p) => p[2]), `memory of ${name}, last minutes`));
}

// A process's CPU and memory now, each with a sparkline once there are two points.
function processStats(p, index, text, what) {
  const values = (fleet.processHistory[p.id] || []).map((point) => point[index]);
  return [text, values.length > 1 ? sparkline(values, `${what} of ${p.id}, last minutes`) : ''];
}
function cpuCell(p) { return processStats(p, 0, cpuText(p.cpu), 'CPU'); }
function memCell(p) { return processStats(p, 1, memText(p.rss_kb), 'memory'); }

// Appends a poll's point to histories[key], keeping the last `limit` points.
function remember(histories, key, point, limit) {
  const points = histories[key] || (histories[key] = []);
  points.push(point);
  if (points.length > limit) points.shift();
}

function showStats(data) {
  remember(fleet.history, data.server, data.host, HISTORY);
  for (const [id, [cpu, kb]] of Object.entries(data.processes)) {
    const p = fleet.processes[id];
    if (!p) continue;
    p.cpu = cpu;
    p.rss_kb = kb;
    remember(fleet.processHistory, id, [cpu, kb], PROCESS_HISTORY);
    for (const cell of document.querySelectorAll(`td.cpu[data-id="${CSS.escape(id)}"]`)) cell.replaceChildren(...cpuCell(p));
    for (const cell of document.querySelectorAll(`td.mem[data-id="${CSS.escape(id)}"]`)) cell.replaceChildren(...memCell(p));
  }
  const shown = document.querySelector(`[data-host-stats="${CSS.escape(data.server)}"]`);
  const header = document.querySelector(`section[data-server="${CSS.escape(data.server)}"] > header`);
  const fresh = hostStats(data.server);
  if (shown) shown.replaceWith(fresh);
  else if (header) header.querySelector('.badge')?.after(fresh);
}

// --- alerts as browser notifications: opt-in, remembered by this browser ---------------------

const notify = {
  button: document.getElementById('notify'),
  get on() {
    return 'Notification' in window && localStorage.getItem('fleet-notify') === 'yes'
      && Notification.permission === 'granted';
  },
  show() {
    this.button.hidden = !('Notification' in window);
    this.button.textContent = this.on ? 'Notifications on' : 'Notify me';
  },
  async toggle() {
    if (this.on) localStorage.removeItem('fleet-notify');
    else if (await Notification.requestPermission() === 'granted') localStorage.setItem('fleet-notify', 'yes');
    this.show();
  },
  alert(notice) {
    if (!this.on) return;
    const title = notice.status === 'firing' ? `Fleet: ${notice.state}` : 'Fleet: recovered';
    new Notification(title, {body: notice.text, tag: notice.process || notice.server});
  },
};
notify.button.addEventListener('click', () => notify.toggle());
notify.show();

// --- rendering -------------------------------------------------------------------------------

function byId(a, b) { return a.id.localeCompare(b.id); }

function render() {
  const content = document.getElementById('content');
  const sections = {groups: renderGroups, servers: renderServers, processes: renderProcesses}[view]();
  content.replaceChildren(...sections);
  for (const id of [...selected]) if (!(id in fleet.processes)) selected.delete(id);
  updateSelection();
}

// Swap only the rows of the processes that changed, so the rest of the page (scroll position,
// focus, text being selected) stays put. False when the view must be rebuilt instead: a process
// entered or left the processes view's filter.
function patchRows(processes) {
  const swaps = [];
  for (const p of processes) {
    const rows = document.querySelectorAll(`tr[data-id="${CSS.escape(p.id)}"]`);
    if (view === 'processes' && matchesFilter(p) !== (rows.length > 0)) return false;
    for (const row of rows) swaps.push([row, p]);
  }
  for (const [row, p] of swaps) row.replaceWith(processRow(p, row.closest('table').dataset.showServer === 'yes'));
  updateSelection();
  return true;
}

function actionButtons(kind, target) {
  if (!mayControl) return null;
  return el('span', {class: 'actions'}, ...['start', 'stop', 'restart'].map((action) =>
    el('button', {'data-action': action, 'data-kind': kind, 'data-target': target}, action)),
  mayManage ? signalMenu(kind, target) : null);
}

function signalMenu(kind, target) {
  const menu = el('select', {'data-kind': kind, 'data-target': target, 'aria-label': `Send a signal to ${target}`},
    el('option', {value: ''}, 'signal…'), ...SIGNALS.map((name) => el('option', {value: name}, name)));
  menu.addEventListener('change', () => {
    const signal = menu.value;
    menu.value = '';
    if (signal && confirm(`send ${signal} to ${target}?`)) act('signal', {[kind]: [target], signal}, [menu]);
  });
  return menu;
}

function serverBadge(server) {
  if (!server) return null;
  if (!server.reachable) {
    return el('span', {class: 'badge bad', title: server.error || ''}, `unreachable: ${server.error || ''}`);
  }
  // Polls failing, not yet for long: the processes shown are the last ones known.
  if (server.failing_since) return el('span', {class: 'badge warn', title: server.error || ''}, `slow: ${server.error}`);
  return el('span', {class: 'badge ok'}, server.state);
}

function renderGroups() {
  if (!fleet.groups.length) return [el('p', {class: 'empty'}, 'No groups configured.')];
  return fleet.groups.map((group) => {
    const processes = Object.values(fleet.processes).filter((p) => p.fleet_groups.includes(group.name));
    const down = group.servers.filter((name) => !fleet.servers[name].reachable);
    return el('section', {class: 'card', 'data-group': group.name},
      el('header', {},
        el('h2', {}, group.name),
        el('span', {class: 'muted'}, group.members.join(', ')),
        ...down.map((name) => el('span', {class: 'badge bad', title: fleet.servers[name].error || ''},
          `${name} unreachable`)),
        actionButtons('groups', group.name),
        mayControl && group.servers.length > 1
          ? el('button', {'data-rollout': group.name, title: 'restart one server at a time, each once ready'},
            'rolling restart')
          : null),
      processTable(processes, true));
  });
}

function renderServers() {
  return Object.values(fleet.servers).map((server) => {
    const processes = Object.values(fleet.processes).filter((p) => p.server === server.name);
    return el('section', {class: 'card', 'data-server': server.name},
      el('header', {},
        el('h2', {}, server.name),
        server.location ? el('span', {class: 'location', title: 'where its check workers check from'},
          server.location) : null,
        el('span', {class: 'muted'}, server.url),
        serverBadge(server),
        hostStats(server.name),
        actionButtons('servers', server.name),
        mayManage ? el('button', {'data-update': server.name}, 'reread & update') : null,
        el('button', {'data-main-log': server.name}, 'supervisord log')),
      server.reachable ? processTable(processes, false) : null);
  });
}

function matchesFilter(p) {
  const query = document.getElementById('search').value.trim().toLowerCase();
  const state = document.getElementById('state-filter').value;
  return (!state || p.state === state)
    && (!query || `${p.id} ${p.description} ${p.spawnerr}`.toLowerCase().includes(query));
}

function renderProcesses() {
  const processes = Object.values(fleet.processes).filter(matchesFilter);
  const down = Object.values(fleet.servers).filter((s) => !s.reachable);
  return [
    ...down.map((s) => el('p', {class: 'badge bad'}, `${s.name} unreachable: ${s.error || ''}`)),
    el('section', {class: 'card'}, processTable(processes, true)),
  ];
}

function processTable(processes, showServer) {
  processes.sort(byId);
  const all = el('input', {type: 'checkbox', 'aria-label': 'Select all',
    checked: processes.length && processes.every((p) => selected.has(p.id))});
  all.addEventListener('change', () => {
    for (const p of processes) all.checked ? selected.add(p.id) : selected.delete(p.id);
    render();
  });
  const head = el('tr', {}, el('th', {}, all), showServer ? el('th', {}, 'Server') : null,
    ...['Process', 'State', 'Uptime', 'PID', 'CPU', 'Memory', 'Exit', 'Description', '']
      .map((t) => el('th', {class: `col-${t.toLowerCase() || 'actions'}`}, t)));
  const rows = processes.map((p) => processRow(p, showServer));
  if (!rows.length) rows.push(el('tr', {}, el('td', {colspan: 11, class: 'empty'}, 'No processes.')));
  return el('table', {class: 'processes', 'data-show-server': showServer ? 'yes' : 'no'},
    el('thead', {}, head), el('tbody', {}, ...rows));
}

function processRow(p, showServer) {
  const box = el('input', {type: 'checkbox', 'aria-label': `Select ${p.id}`, checked: selected.has(p.id)});
  box.addEventListener('change', () => { box.checked ? selected.add(p.id) : selected.delete(p.id); updateSelection(); });
  // A running process's description is its pid and uptime, which have their own columns.
  // Why a FATAL process failed is in spawnerr; the description only says "Exited too quickly".
  const why = p.state === 'RUNNING' ? '' : p.description;
  return el('tr', {'data-id': p.id, 'data-state': p.state},
    el('td', {}, box),
    showServer ? el('td', {}, p.server) : null,
    el('td', {class: 'name'}, p.group === p.name ? p.name : `${p.group}:${p.name}`),
    el('td', {}, el('span', {class: `state ${p.state}`}, p.state)),
    el('td', {class: 'uptime', 'data-id': p.id}, uptime(p)),
    el('td', {class: 'pid'}, p.pid ? String(p.pid) : ''),
    el('td', {class: 'cpu', 'data-id': p.id}, ...cpuCell(p)),
    el('td', {class: 'mem', 'data-id': p.id}, ...memCell(p)),
    // supervisor records an exit status only for a run that got past startsecs.
    el('td', {class: 'exit'}, p.state === 'EXITED' || p.state === 'STOPPED' ? String(p.exitstatus) : ''),
    el('td', {class: 'description'}, why,
      p.spawnerr && p.spawnerr !== p.description ? el('div', {class: 'error'}, p.spawnerr) : null),
    // The dashboard's own process: stopping it would end this page (the API refuses it too).
    el('td', {class: 'row-actions'}, p.dashboard ? el('span', {class: 'muted'}, 'this dashboard') : actionButtons('processes', p.id),
      el('button', {'data-tail': p.id}, 'tail')));
}

function updateSelection() {
  document.getElementById('selection').textContent =
    selected.size ? `${selected.size} selected` : 'No process selected';
  for (const button of document.querySelectorAll('[data-selection], [data-tail-selection]')) {
    button.disabled = !selected.size;
  }
}

// --- actions ---------------------------------------------------------------------------------

async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showResults(title, rows) {
  document.getElementById('results-title').textContent = title;
  document.getElementById('results-body').replaceChildren(...rows.map(([name, status, description, ok]) =>
    el('tr', {class: ok ? 'ok' : 'failed'}, el('td', {}, name), el('td', {}, status), el('td', {}, description))));
  document.getElementById('results').hidden = false;
}

async function act(action, targets, buttons) {
  for (const b of buttons) b.disabled = true;
  showResults(`${action}: running…`, []);
  try {
    const data = await api('POST', `/api/actions/${action}`, targets);
    const failed = data.results.filter((r) => !r.ok).length;
    showResults(`${action}: ${data.results.length - failed} ok, ${failed} failed`,
      data.results.map((r) => [r.id, r.status, r.description, r.ok]));
  } catch (error) {
    showResults(`${action} refused: ${error.message}`, []);
  } finally {
    for (const b of buttons) b.disabled = false;
    updateSelection();
  }
}

async function rollout(group, button) {
  button.disabled = true;
  showResults(`rolling restart of ${group}: running…`, []);
  try {
    const r = await api('POST', `/api/groups/${encodeURIComponent(group)}/rollout`);
    const rows = [...r.steps.map((s) => [s.server, s.ok ? 'READY' : 'FAILED',
      s.error || `ready after ${s.seconds} s`, s.ok]),
    ...r.skipped.map((name) => [name, 'SKIPPED', 'not restarted: an earlier server failed', false])];
    showResults(`rolling restart of ${group}: ${r.ok ? 'done' : 'stopped at the first failure'}`, rows);
  } catch (error) {
    showResults(`rolling restart of ${group} refused: ${error.message}`, []);
  } finally {
    button.disabled = false;
  }
}

async function update(server, button) {
  button.disabled = true;
  showResults(`update ${server}: running…`, []);
  try {
    const r = await api('POST', `/api/servers/${encodeURIComponent(server)}/update`);
    const rows = [['added', '', r.added.join(', ') || 'none', true], ['changed', '', r.changed.join(', ') || 'none', true],
      ['removed', '', r.removed.join(', ') || 'none', true],
      ...r.errors.map((e) => [`${e.group} (${e.step})`, e.status, e.description, false])];
    showResults(`update ${server}: ${r.errors.length ? 'with errors' : 'done'}`, rows);
  } catch (error) {
    showResults(`update ${server} failed: ${error.message}`, []);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (!button) return;
  if (button.dataset.action) {
    const {action, kind, target} = button.dataset;
    // A whole group or server at once deserves a second thought; one process does not.
    if (kind !== 'processes' && action !== 'start' && !confirm(`${action} every process of ${target}?`)) return;
    act(action, {[kind]: [target]}, [button]);
  } else if (button.dataset.selection) {
    const action = button.dataset.selection;
    if (action !== 'start' && !confirm(`${action} ${selected.size} selected processes?`)) return;
    act(action, {processes: [...selected]}, document.querySelectorAll('[data-selection]'));
  } else if (button.dataset.rollout) {
    if (confirm(`restart ${button.dataset.rollout} one server at a time?`)) rollout(button.dataset.rollout, button);
  } else if (button.dataset.update) {
    update(button.dataset.update, button);
  } else if (button.dataset.tail) {
    tail.open(button.dataset.tail);
  } else if (button.dataset.tailSelection !== undefined) {
    multi.open([...selected].sort());
  } else if (button.dataset.mainLog) {
    tail.openMain(button.dataset.mainLog);
  }
});
document.getElementById('results-close').addEventListener('click', () => {
  document.getElementById('results').hidden = true;
});

// --- log tail --------------------------------------------------------------------------------

// Follows one log (a process's stdout or stderr) into a <pre>, polling the tail API.
class Follower {
  constructor(id, stream, text, onStatus, onText) {
    Object.assign(this, {id, stream, text, onStatus, onText, offset: 0, timer: null, stopped: false});
    this.poll();
  }
  stop() {
    this.stopped = true;  // answers still on their way are dropped
    clearTimeout(this.timer);
  }
  async poll() {
    const url = `/api/processes/${encodeURIComponent(this.id)}/tail?stream=${this.stream}&offset=${this.offset}`;
    try {
      const data = await api('GET', url);
      if (this.stopped) return;
      if (data.rotated) this.text.append('\n… (log rotated) …\n');
      if (data.overflow && this.offset) this.text.append('\n… (skipped output) …\n');
      const atBottom = this.text.scrollTop + this.text.clientHeight >= this.text.scrollHeight - 4;
      if (data.text) {
        this.text.append(data.text);
        if (this.text.textContent.length > TAIL_KEEP) this.text.textContent = this.text.textContent.slice(-TAIL_KEEP);
        if (atBottom) this.text.scrollTop = this.text.scrollHeight;
      }
      this.offset = data.offset;
      this.onStatus('following');
      if (data.text) this.onText();
    } catch (error) {
      if (this.stopped) return;
      this.onStatus(error.message);
    }
    this.timer = setTimeout(() => this.poll(), TAIL_EVERY);
  }
}

const tail = {
  id: null, follower: null,
  text: document.getElementById('tail-text'),
  status: document.getElementById('tail-status'),
  stream: document.getElementById('tail-stream'),
  search: document.getElementById('tail-search'),
  found: document.getElementById('tail-found'),

  open(id) {
    this.id = id;
    this.restart();
    this.show(id);
  },
  show(title) {
    document.getElementById('tail-id').textContent = title;
    document.getElementById('tail').hidden = false;
    document.getElementById('tail').scrollIntoView({block: 'nearest'});
  },
  // supervisord's own log: its end, once (it has no offsets to follow).
  async openMain(server) {
    this.close();
    this.show(`supervisord on ${server}`);
    try {
      this.text.textContent = (await api('GET', `/api/servers/${encodeURIComponent(server)}/log`)).text;
      this.status.textContent = '';
    } catch (error) {
      this.status.textContent = error.message;
    }
    this.filter();
  },
  // Only the lines with the searched text, while there is one.
  filter() {
    const query = this.search.value.toLowerCase();
    this.found.hidden = !query;
    this.text.hidden = Boolean(query);
    if (query) {
      this.found.textContent = this.text.textContent.split('\n')
        .filter((line) => line.toLowerCase().includes(query)).join('\n');
    }
  },
  restart() {
    this.follower?.stop();
    this.text.textContent = '';
    document.getElementById('tail-download').href =
      `/api/processes/${encodeURIComponent(this.id)}/log?stream=${this.stream.value}`;
    this.follower = new Follower(this.id, this.stream.value, this.text,
      (status) => { this.status.textContent = status; }, () => this.filter());
  },
  close() {
    this.follower?.stop();
    this.follower = null;
    this.id = null;
    document.getElementById('tail').hidden = true;
  },
};

// Several logs at once: one row per process, stdout (and stderr beside it, if asked).
const multi = {
  ids: [], followers: [],
  both: document.getElementById('multi-both'),
  panes: document.getElementById('multi-panes'),

  open(ids) {
    this.ids = ids;
    this.render();
    document.getElementById('multi').hidden = false;
    document.getElementById('multi').scrollIntoView({block: 'nearest'});
  },
  render() {
    this.stop();
    const streams = this.both.checked ? ['stdout', 'stderr'] : ['stdout'];
    this.panes.replaceChildren(...this.ids.map((id) => el('div', {class: 'multi-row', 'data-id': id},
      ...streams.map((stream) => {
        const status = el('span', {class: 'muted'});
        const text = el('pre', {'data-stream': stream});
        this.followers.push(new Follower(id, stream, text, (s) => { status.textContent = s; }, () => {}));
        return el('div', {class: 'multi-pane'}, el('strong', {}, `${id} ${stream} `), status, text);
      }))));
  },
  stop() {
    for (const follower of this.followers) follower.stop();
    this.followers = [];
  },
  close() {
    this.stop();
    document.getElementById('multi').hidden = true;
  },
};
multi.both.addEventListener('change', () => multi.render());
document.getElementById('multi-close').addEventListener('click', () => multi.close());
tail.stream.addEventListener('change', () => tail.restart());
tail.search.addEventListener('input', () => tail.filter());
document.getElementById('tail-clear')?.addEventListener('click', async () => {
  if (!tail.id || !confirm(`clear the logs of ${tail.id}?`)) return;
  try {
    await api('POST', `/api/processes/${encodeURIComponent(tail.id)}/clear`);
    tail.restart();
  } catch (error) {
    tail.status.textContent = error.message;
  }
});
document.getElementById('tail-close').addEventListener('click', () => tail.close());

// --- audit log (admins) ----------------------------------------------------------------------

async function loadAudit() {
  const params = new URLSearchParams();
  for (const input of document.querySelectorAll('[data-audit-filter]')) {
    if (input.value.trim()) params.set(input.dataset.auditFilter, input.value.trim());
  }
  const content = document.getElementById('content');
  try {
    const data = await api('GET', `/api/audit?${params}`);
    const rows = data.entries.map((e) => el('tr', {class: e.ok ? 'ok' : 'failed'},
      el('td', {class: 'when'}, new Date(e.time * 1000).toLocaleString()),
      ...[e.user, e.role, e.address, e.action, e.target, e.status, e.description].map((text) => el('td', {}, text))));
    if (!rows.length) rows.push(el('tr', {}, el('td', {colspan: 8, class: 'empty'}, 'Nothing recorded.')));
    content.replaceChildren(el('section', {class: 'card results'}, el('table', {class: 'audit'},
      el('thead', {}, el('tr', {}, ...['When', 'User', 'Role', 'Address', 'Action', 'Target', 'Result', 'Detail']
        .map((t) => el('th', {}, t)))),
      el('tbody', {}, ...rows))));
  } catch (error) {
    content.replaceChildren(el('p', {class: 'error'}, error.message));
  }
}

// --- start -----------------------------------------------------------------------------------

if (view === 'processes') {
  document.getElementById('search').addEventListener('input', render);
  document.getElementById('state-filter').addEventListener('change', render);
}
if (view === 'audit') {
  for (const input of document.querySelectorAll('[data-audit-filter]')) input.addEventListener('input', loadAudit);
  document.getElementById('audit-refresh').addEventListener('click', loadAudit);
  loadAudit();
} else {
  setInterval(() => {
    for (const cell of document.querySelectorAll('td.uptime')) {
      const p = fleet.processes[cell.dataset.id];
      if (p) cell.textContent = uptime(p);
    }
  }, 1000);
  connect();
}
