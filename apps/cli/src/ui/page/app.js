// The dashboard page: plain DOM, no framework, no inline code (the server's CSP forbids it).
// Every text from the vault goes through textContent, never markup. Data comes from the
// server's /api routes (aggregated in SQL); the chart is uPlot, served by the same server.

const DAY = 86_400_000
const COLORS = [
  '#1f5fa8',
  '#b35c00',
  '#2a7a2a',
  '#7b3fa0',
  '#a3214a',
  '#0f7c80',
  '#6b6b00',
  '#4a4a4a',
]

/** Builds an element: el('td', { class: 'num' }, 'text', child…). */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'dataset') Object.assign(node.dataset, value)
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

function table(caption, headers, rows, options = {}) {
  const head = el(
    'tr',
    null,
    headers.map((h) => el('th', { scope: 'col', class: h.num ? 'num' : null }, h.label ?? h)),
  )
  const body = rows.map((row) =>
    el(
      'tr',
      options.rowAttributes?.(row),
      row.cells.map((cell, i) =>
        el(
          'td',
          { class: headers[i]?.num ? 'num' : (cell?.className ?? null) },
          cell?.node ?? cell?.text ?? cell,
        ),
      ),
    ),
  )
  return el(
    'table',
    { id: options.id },
    el('caption', null, caption),
    el('thead', null, head),
    el('tbody', null, body),
  )
}

const when = (iso) =>
  iso ? `${new Date(iso).toISOString().replace('T', ' ').slice(0, 16)} UTC` : '—'
const relDays = (seconds) => {
  const days = Math.floor(seconds / 86400)
  const hours = Math.floor((seconds % 86400) / 3600)
  return days > 0 ? `${days} d ${hours} h` : `${hours} h`
}

async function api(path) {
  const response = await fetch(path, {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  })
  const body = await response.json()
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`)
  return body
}

function route() {
  const hash = location.hash.replace(/^#\/?/, '') || 'inventory'
  const [path, query] = hash.split('?')
  const [view, ...rest] = path.split('/')
  return {
    view,
    arg: rest.length ? decodeURIComponent(rest.join('/')) : null,
    params: new URLSearchParams(query ?? ''),
  }
}

function setTitle(text) {
  document.getElementById('title').textContent = text
  document.title = `${text} · Keywarden`
}

function markNav(view) {
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
}

const secretLink = (name) => el('a', { href: `#/secret/${encodeURIComponent(name)}` }, name)

// ---------------------------------------------------------------- inventory
async function inventoryView(root) {
  setTitle('Inventory')
  const data = await api('/api/inventory')
  const t = data.totals
  root.append(
    el(
      'div',
      { class: 'cards', id: 'totals' },
      card('Secrets', t.secrets, 'secrets'),
      card('Overdue for rotation', t.overdue, 'overdue'),
      card('Due within 14 days', t.due_soon, 'due_soon'),
      card('Expired', t.expired, 'expired'),
      card('Accesses in 7 days', t.accesses_7d, 'accesses_7d'),
    ),
  )
  const headers = [
    'Secret',
    'Type',
    'Risk',
    { label: 'Version', num: true },
    'Last rotation',
    'Rotation',
    'Expires',
    'Agents',
    'Allowed hosts',
    'Allowed commands',
    'Doors (7 days)',
    { label: 'Accesses (7 days)', num: true },
  ]
  root.append(
    table(
      'Every secret, never a value',
      headers,
      data.secrets.map((s) => ({
        name: s.name,
        cells: [
          { node: secretLink(s.name) },
          s.type,
          s.risk_level,
          s.version,
          when(s.last_rotated_at),
          { text: rotationText(s), className: `state-${s.rotation_state}` },
          s.expires_at
            ? {
                text: `${when(s.expires_at)}${s.expired ? ' (expired)' : ''}`,
                className: s.expired ? 'bad' : null,
              }
            : '—',
          s.agent_visible ? 'may reveal' : 'hidden',
          s.allowed_hosts.join(', ') || '—',
          s.allowed_commands.join(', ') || '—',
          s.doors_7d.join(', ') || '—',
          s.accesses_7d,
        ],
      })),
      { id: 'inventory', rowAttributes: (row) => ({ dataset: { secret: row.name } }) },
    ),
  )
}

function card(label, value, key) {
  return el(
    'div',
    { class: 'card', dataset: { total: key } },
    el('span', { class: 'value' }, value),
    label,
  )
}

function rotationText(s) {
  if (s.rotation_state === 'overdue') return `overdue by ${relDays(s.overdue_seconds)}`
  if (s.rotation_state === 'manual') return 'by hand'
  return `${s.rotation_state === 'due_soon' ? 'due soon' : 'due'} ${when(s.rotation_due_at)}`
}

// ---------------------------------------------------------------- activity
let chart = null

async function activityView(root, params) {
  const secret = params.get('secret')
  setTitle(secret ? `Activity of ${secret}` : 'Activity')
  const query = new URLSearchParams()
  for (const key of ['from', 'to', 'bucket', 'group', 'secret'])
    if (params.get(key)) query.set(key, params.get(key))
  const data = await api(`/api/activity?${query}`)
  root.append(activityControls(data))
  const holder = el('div', {
    class: 'chart',
    id: 'chart',
    role: 'img',
    'aria-label': `Stacked chart of audit events per ${data.bucket} by ${data.group_by}; failures marked in red. Drag across it to zoom.`,
  })
  root.append(holder)
  drawChart(holder, data)
  root.append(
    el(
      'p',
      { class: 'muted' },
      `Total ${data.totals.events} events, ${data.totals.failures} failed, ${when(data.from)} to ${when(data.to)}.`,
    ),
  )
  root.append(
    table(
      'Events per series in the range',
      ['Series', { label: 'Events', num: true }, { label: 'Failures', num: true }],
      data.series.map((s) => ({ cells: [s.name, sum(s.events), sum(s.failures)] })),
      { id: 'series-totals', rowAttributes: () => ({ dataset: { series: '' } }) },
    ),
  )
}

const sum = (values) => values.reduce((a, b) => a + b, 0)

function activityControls(data) {
  const form = el('form', { class: 'controls', id: 'activity-form' })
  const input = (label, name, value, type = 'datetime-local') =>
    el('label', null, label, el('input', { name, type, value }))
  const local = (iso) => iso.slice(0, 16)
  const select = (label, name, options, value) =>
    el(
      'label',
      null,
      label,
      el(
        'select',
        { name },
        options.map((o) => el('option', { value: o, selected: o === value }, o)),
      ),
    )
  form.append(
    input('From (UTC)', 'from', local(data.from)),
    input('To (UTC)', 'to', local(data.to)),
    select('Bucket', 'bucket', ['hour', 'day'], data.bucket),
    select('Stack by', 'group', ['door', 'accessor', 'secret'], data.group_by),
    el('button', { type: 'submit' }, 'Show'),
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const values = new FormData(form)
    const next = new URLSearchParams()
    next.set('from', `${values.get('from')}:00Z`)
    next.set('to', `${values.get('to')}:00Z`)
    next.set('bucket', values.get('bucket'))
    next.set('group', values.get('group'))
    if (data.secret) next.set('secret', data.secret)
    location.hash = `#/activity?${next}`
  })
  return form
}

function drawChart(holder, data) {
  chart?.destroy()
  chart = null
  if (typeof uPlot === 'undefined' || data.x.length === 0) return
  // Stacked: each series is drawn as the running total of those before it.
  const running = data.x.map(() => 0)
  const stacked = data.series.map((s) => s.events.map((v, i) => (running[i] += v)))
  const failures = data.x.map((_, i) => sum(data.series.map((s) => s.failures[i])))
  const series = [{ label: 'time' }]
  data.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]
    series.push({
      label: s.name,
      stroke: color,
      fill: `${color}55`,
      width: 1,
      value: (_, __, idx) => data.series[i].events[idx] ?? 0,
    })
  })
  series.push({
    label: 'failures',
    stroke: '#c00000',
    width: 2,
    points: { show: true, size: 6, fill: '#c00000' },
    paths: () => null,
  })
  // Draw the top of the stack first so lower bands paint over it.
  const order = stacked.map((_, i) => i).reverse()
  const columns = [data.x, ...order.map((i) => stacked[i]), failures]
  const orderedSeries = [series[0], ...order.map((i) => series[i + 1]), series[series.length - 1]]
  chart = new uPlot(
    {
      width: Math.max(600, holder.clientWidth || 900),
      height: 320,
      series: orderedSeries,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 5) return
            const from = u.posToVal(u.select.left, 'x')
            const to = u.posToVal(u.select.left + u.select.width, 'x')
            const next = new URLSearchParams()
            next.set('from', new Date(from * 1000).toISOString())
            next.set('to', new Date(to * 1000).toISOString())
            next.set('bucket', to - from <= 14 * 86400 ? 'hour' : data.bucket)
            next.set('group', data.group_by)
            if (data.secret) next.set('secret', data.secret)
            location.hash = `#/activity?${next}`
          },
        ],
      },
    },
    columns,
    holder,
  )
}

// ---------------------------------------------------------------- a secret
async function secretView(root, name) {
  setTitle(`Secret ${name}`)
  const data = await api(`/api/secrets/${encodeURIComponent(name)}`)
  const s = data.secret
  root.append(
    el(
      'p',
      null,
      `${s.type}, risk ${s.risk_level}, version ${s.version}. Rotation: ${rotationText(s)}. `,
      el(
        'a',
        {
          href: `#/activity?secret=${encodeURIComponent(name)}&group=accessor&bucket=day&from=${new Date(Date.now() - 30 * DAY).toISOString()}`,
        },
        'Activity of this secret',
      ),
    ),
  )
  if (s.description) root.append(el('p', { class: 'muted' }, s.description))
  root.append(el('h2', null, 'Accessors'))
  root.append(
    table(
      'Who used it, first and last seen',
      [
        'Accessor',
        'Door',
        'First seen',
        'Last seen',
        { label: 'Events', num: true },
        { label: 'Failures', num: true },
        { label: 'Refusals', num: true },
      ],
      data.accessors.map((a) => ({
        cells: [
          a.accessed_by,
          a.door,
          when(a.first_seen),
          when(a.last_seen),
          a.events,
          a.failures,
          a.refusals,
        ],
      })),
      { id: 'accessors' },
    ),
  )
  root.append(el('h2', null, 'Timeline'))
  root.append(
    table(
      'Reads, uses, rotations and refusals, newest first',
      ['When', 'What', 'Type', 'By', { label: 'Events', num: true }, 'Result'],
      data.timeline.map((r) => ({
        cells: [
          when(r.at),
          r.kind,
          r.access_type,
          r.accessed_by,
          r.event_count,
          {
            text: r.success ? 'ok' : `failed: ${r.error_message ?? ''}`,
            className: r.success ? null : 'bad',
          },
        ],
      })),
      { id: 'timeline' },
    ),
  )
}

// ---------------------------------------------------------------- alerts
async function alertsView(root, params) {
  setTitle('Alerts')
  const days = params.get('days') ?? '7'
  const data = await api(`/api/alerts?days=${encodeURIComponent(days)}`)
  root.append(el('p', null, `${data.alerts.length} alert(s) in the last ${data.days} days.`))
  root.append(
    table(
      'Alerts with their evidence',
      ['When', 'Kind', 'Severity', 'Secret', 'Accessor', 'Evidence', 'Cause'],
      data.alerts.map((a) => {
        const q = new URLSearchParams({
          from: a.activity.from,
          to: a.activity.to,
          bucket: a.activity.bucket,
          group: a.activity.group,
        })
        if (a.activity.secret) q.set('secret', a.activity.secret)
        return {
          key: a.key,
          cells: [
            when(a.occurred_at),
            a.kind,
            {
              text: a.severity,
              className: a.severity === 'high' || a.severity === 'critical' ? 'bad' : null,
            },
            a.secret_name ?? '—',
            a.accessed_by ?? '—',
            { node: el('pre', { class: 'evidence mono' }, JSON.stringify(a.evidence, null, 1)) },
            {
              node: el('a', { href: `#/activity?${q}`, class: 'cause' }, 'Activity that caused it'),
            },
          ],
        }
      }),
      { id: 'alerts', rowAttributes: (row) => ({ dataset: { alert: row.key } }) },
    ),
  )
}

// ---------------------------------------------------------------- rotation
async function rotationView(root) {
  setTitle('Rotation')
  const data = await api('/api/rotation')
  root.append(el('p', null, `Due or expiring within ${data.days} days, most overdue first.`))
  const byDay = new Map()
  for (const item of data.due) {
    const day = item.due_at.slice(0, 10)
    byDay.set(day, [...(byDay.get(day) ?? []), item])
  }
  const list = el('div', { id: 'rotation' })
  for (const [day, items] of byDay) {
    list.append(
      el(
        'section',
        { class: 'day', 'aria-label': day },
        el('h2', null, day),
        el(
          'ul',
          null,
          items.map((item) =>
            el(
              'li',
              { dataset: { secret: item.name } },
              secretLink(item.name),
              ` — ${item.reason === 'expires' ? 'expires' : 'rotation due'} `,
              el(
                'span',
                { class: item.overdue ? 'bad' : null },
                item.overdue
                  ? `overdue by ${-item.days_left} day(s)`
                  : `in ${item.days_left} day(s)`,
              ),
              `, risk ${item.risk_level}`,
            ),
          ),
        ),
      ),
    )
  }
  if (data.due.length === 0) list.append(el('p', null, 'Nothing is due.'))
  root.append(list)
}

// ---------------------------------------------------------------- report
function reportView(root) {
  setTitle('Compliance report')
  const to = new Date()
  const from = new Date(to.getTime() - 30 * DAY)
  const form = el(
    'form',
    { class: 'controls', id: 'report-form' },
    el(
      'label',
      null,
      'From (UTC)',
      el('input', { type: 'date', name: 'from', value: from.toISOString().slice(0, 10) }),
    ),
    el(
      'label',
      null,
      'To (UTC)',
      el('input', { type: 'date', name: 'to', value: to.toISOString().slice(0, 10) }),
    ),
    el(
      'label',
      null,
      'Format',
      el(
        'select',
        { name: 'format' },
        ['html', 'pdf', 'csv'].map((f) => el('option', { value: f }, f)),
      ),
    ),
    el('button', { type: 'submit' }, 'Make the report'),
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const values = new FormData(form)
    const q = new URLSearchParams({
      from: String(values.get('from')),
      to: `${values.get('to')}T23:59:59Z`,
      format: String(values.get('format')),
    })
    location.assign(`/api/report?${q}`)
  })
  root.append(
    el(
      'p',
      null,
      'Inventory and rotation against policy, every accessor, failed and refused accesses, alerts, incident runs and the audit chain verification — the same numbers as these pages.',
    ),
    form,
  )
}

// ---------------------------------------------------------------- shell
const VIEWS = {
  inventory: inventoryView,
  activity: activityView,
  secret: secretView,
  alerts: alertsView,
  rotation: rotationView,
  report: reportView,
}
let rendering = Promise.resolve()

function render() {
  rendering = rendering.then(async () => {
    const { view, arg, params } = route()
    const root = document.getElementById('view')
    const fresh = el('div')
    markNav(view === 'secret' ? 'inventory' : view)
    try {
      await (VIEWS[view] ?? inventoryView)(fresh, view === 'secret' ? arg : params)
    } catch (error) {
      fresh.replaceChildren(
        el('p', { class: 'bad', role: 'alert' }, `Could not load: ${error.message}`),
      )
    }
    root.replaceChildren(fresh)
    document.body.dataset.ready = view
  })
  return rendering
}

function live() {
  const status = document.getElementById('live')
  const source = new EventSource('/api/events')
  source.addEventListener('hello', () => {
    status.textContent = 'Live'
  })
  source.addEventListener('audit', () => {
    status.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC`
    const { view } = route()
    if (view !== 'report') render()
  })
  source.addEventListener('error', () => {
    status.textContent = 'Reconnecting…'
  })
}

window.addEventListener('hashchange', render)
render()
live()
