// The cshealthd dashboard: KPIs against targets, the health distribution, at-risk customers, renewals,
// company pages, the churn analysis and the score's quality (backtests, calibration), from the service's /v1 API. Plain JavaScript and SVG, no
// dependencies; every value from the API is inserted as text (never as HTML).
'use strict';

const TEXT = {
  en: {
    nav_overview: 'Overview', nav_churn: 'Churn analysis', sign_out: 'Sign out', sign_in: 'Sign in',
    sign_in_title: 'Sign in to cshealthd', token: 'Admin or dashboard token', bad_token: 'That token was refused.',
    last_sync: 'Last sync', last_score: 'Last score run', kpis_through: 'KPIs through', never: 'never',
    nrr: 'NRR', grr: 'GRR', churn_rate: 'Churn rate', revenue_churn: 'Revenue churn', nps: 'NPS',
    onboarding_completion: 'Onboarding completion', onboarding_days: 'Onboarding days', time_to_value: 'Time to value',
    green_share: 'Green share', expansion_rate: 'Expansion rate', ticket_resolution_hours: 'Ticket resolution',
    customers_per_csm: 'Customers per CSM', target: 'Target', met: 'met', missed: 'missed', no_data: 'no data',
    health_distribution: 'Health distribution', band_mix: 'Band mix by month', at_risk: 'At-risk customers (score < 60)',
    renewals: 'Renewals in the next 90 days', company: 'Company', score: 'Score', status: 'Status',
    segment: 'Segment', owner: 'Owner', reasons: 'Reasons', open_tasks: 'Open alert tasks', mrr: 'MRR',
    renewal_date: 'Renewal', days_left: 'Days left', play: 'Renewal play', all_segments: 'All segments',
    all_owners: 'All owners', green: 'Green', yellow: 'Yellow', orange: 'Orange', red: 'Red', unknown: 'Unknown',
    none: 'none', score_history: 'Score history', config_changed: 'config changed', components: 'Components',
    signals: 'Signals', overrides: 'Overrides', tasks: 'Tasks', points: 'Points', weight: 'Weight', raw: 'Value',
    rule: 'Rule', plan: 'Plan', cs_stage: 'CS stage', kind: 'Kind', name: 'Name', day: 'Day', open: 'Open',
    done: 'done', value: 'Value', reason: 'Reason', author: 'Author', expires: 'Expires', revoked: 'revoked',
    churns: 'Churned customers', churn_day: 'Churned', source: 'By', mrr_lost: 'MRR lost', before: 'Band before',
    lead: 'Warning lead', alerts: 'Alerts', acted_on: 'acted on', median_lead: 'Median warning lead',
    alerts_acted: 'Alerts acted on', red_orange_before: 'Red/orange {d} days before', churn_reasons: 'Churn reasons',
    days: 'days', loading: 'Loading…', not_found: 'Not found', period: 'Period', no_rows: 'Nothing here.',
    of: 'of', priority: 'Priority', config_marker_note: 'Dashed lines: the scoring configuration changed (not the customer).',
    nav_quality: 'Score quality', no_backtest: 'No backtest yet: run `cshealthd backtest`.', auc: 'AUC',
    lift: 'Top-decile lift', recall_ro: 'Churners flagged red or orange', false_alarm: 'Stayers flagged',
    roc: 'ROC curve', roc_note: 'How many churners (up) the score flags for how many stayers (across); the dashed diagonal is chance.',
    band_churn: 'Churn rate per band', component_auc: 'Each component alone', observations: 'Observations',
    churned_n: 'Churned', churn_rate_col: 'Churn rate', calibration: 'Latest calibration', current: 'Current',
    proposed: 'Proposed', why: 'Why', out_of_time: 'Out-of-time AUC', brier: 'Churn probability (Brier score)',
    base_rate: 'base rate for everyone', nothing_proposed: 'Nothing proposed', backtest_label: 'Backtest',
    no_calibration: 'No calibration yet: run `cshealthd calibrate`.', lead_days: '{d} days', churn_risk: 'Churn risk',
    expansion_likelihood: 'Expansion likelihood',
  },
  ja: {
    nav_overview: '概要', nav_churn: 'チャーン分析', sign_out: 'サインアウト', sign_in: 'サインイン',
    sign_in_title: 'cshealthd にサインイン', token: '管理トークンまたはダッシュボードトークン',
    bad_token: 'このトークンは受け付けられませんでした。', last_sync: '最終同期', last_score: '最終スコア算出',
    kpis_through: 'KPI 集計日', never: '未実行', nrr: 'NRR', grr: 'GRR', churn_rate: 'チャーン率',
    revenue_churn: '収益チャーン率', nps: 'NPS', onboarding_completion: 'オンボーディング完了率',
    onboarding_days: 'オンボーディング日数', time_to_value: 'Time to Value', green_share: '緑の比率',
    expansion_rate: 'エクスパンション率', ticket_resolution_hours: 'チケット解決時間', customers_per_csm: 'CSM あたり顧客数',
    target: '目標', met: '達成', missed: '未達', no_data: 'データなし', health_distribution: 'ヘルススコア分布',
    band_mix: '月別のスコア帯構成', at_risk: 'リスク顧客（スコア 60 未満）', renewals: '今後 90 日以内の更新',
    company: '顧客', score: 'スコア', status: 'ステータス', segment: 'セグメント', owner: '担当', reasons: '理由',
    open_tasks: '未完了のアラートタスク', mrr: 'MRR', renewal_date: '更新日', days_left: '残り日数',
    play: '更新プレイ', all_segments: 'すべてのセグメント', all_owners: 'すべての担当', green: '緑', yellow: '黄',
    orange: '橙', red: '赤', unknown: '不明', none: 'なし', score_history: 'スコア推移', config_changed: '設定変更',
    components: '構成要素', signals: 'シグナル', overrides: '手動上書き', tasks: 'タスク', points: '点数',
    weight: '重み', raw: '値', rule: 'ルール', plan: 'プラン', cs_stage: 'CS ステージ', kind: '種類', name: '名前',
    day: '日付', open: '未完了', done: '完了', value: '値', reason: '理由', author: '設定者', expires: '期限',
    revoked: '取消済', churns: '解約顧客', churn_day: '解約日', source: '判定', mrr_lost: '失った MRR',
    before: '解約前のスコア帯', lead: '警告から解約まで', alerts: 'アラート', acted_on: '対応済',
    median_lead: '警告から解約までの中央値', alerts_acted: '対応済みアラートの比率',
    red_orange_before: '{d} 日前に赤/橙', churn_reasons: '解約理由', days: '日', loading: '読み込み中…',
    not_found: '見つかりません', period: '期間', no_rows: '該当なし。', of: '/', priority: '優先度',
    config_marker_note: '破線: スコアリング設定が変わった日（顧客の変化ではありません）。',
    nav_quality: 'スコアの精度', no_backtest: 'バックテストはまだありません: `cshealthd backtest` を実行してください。',
    auc: 'AUC', lift: '上位 10 % のリフト', recall_ro: '赤・橙で捉えた解約', false_alarm: '継続顧客への警告',
    roc: 'ROC 曲線', roc_note: '継続顧客への警告（横軸）と引き換えに捉えた解約（縦軸）。破線の対角線は偶然と同じ。',
    band_churn: 'スコア帯ごとの解約率', component_auc: '構成要素ごとの AUC', observations: '観測数', churned_n: '解約',
    churn_rate_col: '解約率', calibration: '最新のキャリブレーション', current: '現在', proposed: '提案', why: '理由',
    out_of_time: '時系列外の AUC', brier: '解約確率（ブライアスコア）', base_rate: '全員に平均解約率を与えた場合',
    nothing_proposed: '提案なし', backtest_label: 'バックテスト',
    no_calibration: 'キャリブレーションはまだありません: `cshealthd calibrate` を実行してください。', lead_days: '{d} 日',
    churn_risk: '解約リスク',
    expansion_likelihood: '拡大見込み',
  },
};

const BANDS = ['green', 'yellow', 'orange', 'red', 'unknown'];
const BAND_COLORS = {green: '#2e9e5b', yellow: '#e0b000', orange: '#ec7a1c', red: '#d23c3c', unknown: '#9aa3ad'};
const TILE_KPIS = ['nrr', 'grr', 'churn_rate', 'nps', 'onboarding_completion'];
const SVGNS = 'http://www.w3.org/2000/svg';

const state = {
  lang: localStorage.getItem('cshealthd.lang') || '',
  token: sessionStorage.getItem('cshealthd.token') || '',
  meta: null,
  risk: {sort: 'score', order: 'asc', segment: '', owner: ''},
  quality: {id: 0},
};

function t(key, vars) {
  const dict = TEXT[state.lang] || TEXT.en;
  let s = dict[key] !== undefined ? dict[key] : key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace('{' + k + '}', v);
  return s;
}

// An element with attributes and children (strings become text nodes: nothing is parsed as HTML).
function el(tag, attrs, ...children) {
  const svg = ['svg', 'g', 'path', 'circle', 'rect', 'line', 'polyline', 'text', 'title'].includes(tag);
  const e = svg ? document.createElementNS(SVGNS, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') e.style.cssText = v;  // CSSOM: the page's CSP allows no inline style attributes
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return new Intl.NumberFormat(state.lang === 'ja' ? 'ja-JP' : 'en-US', {maximumFractionDigits: digits}).format(v);
}

function kpiText(k) {
  if (!k || k.value === null) return t('no_data');
  if (k.unit === 'percent') return fmt(k.value) + ' %';
  if (k.unit === 'points') return (k.value > 0 ? '+' : '') + fmt(k.value);
  if (k.unit === 'days') return fmt(k.value) + ' ' + t('days');
  if (k.unit === 'hours') return fmt(k.value) + ' h';
  return fmt(k.value);
}

function badge(status, score) {
  return el('span', {class: 'badge ' + (status || 'unknown')}, score === undefined ? t(status || 'unknown') : fmt(score, 0));
}

class AuthError extends Error {}

async function api(path) {
  const res = await fetch(path, {headers: {Authorization: 'Bearer ' + state.token}});
  if (res.status === 401) throw new AuthError('unauthorized');
  if (res.status === 404) return null;
  if (!res.ok) {
    let msg = res.status + '';
    try { msg += ' ' + (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res.json();
}

function card(title, testid, ...body) {
  return el('section', {class: 'card', 'data-testid': testid}, el('h2', {}, title), ...body);
}

function table(headers, rows, testid) {
  if (!rows.length) return el('p', {class: 'muted', 'data-testid': testid ? testid + '-empty' : null}, t('no_rows'));
  return el('table', {'data-testid': testid},
    el('thead', {}, el('tr', {}, headers.map((h) => (h instanceof Node ? h : el('th', {}, h))))),
    el('tbody', {}, rows));
}

// A line over values (nulls leave gaps), for the tiles' monthly trend.
function sparkline(values, width = 180, height = 36) {
  const nums = values.filter((v) => v !== null);
  const svg = el('svg', {width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark'});
  if (nums.length < 1) return svg;
  const lo = Math.min(...nums), hi = Math.max(...nums), span = hi - lo || 1;
  const x = (i) => (values.length === 1 ? width / 2 : (i * (width - 4)) / (values.length - 1) + 2);
  const y = (v) => height - 4 - ((v - lo) / span) * (height - 8);
  const pts = values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
  svg.append(el('polyline', {points: pts.join(' '), fill: 'none', stroke: '#2856c3', 'stroke-width': 2}));
  const last = values.length - 1;
  if (values[last] !== null) svg.append(el('circle', {cx: x(last), cy: y(values[last]), r: 3, fill: '#2856c3'}));
  return svg;
}

function donut(bands, size = 180) {
  const total = BANDS.reduce((s, b) => s + (bands[b] || 0), 0);
  const svg = el('svg', {width: size, height: size, viewBox: '0 0 42 42', 'data-testid': 'donut'});
  svg.append(el('circle', {cx: 21, cy: 21, r: 15.915, fill: 'none', stroke: '#eef2f7', 'stroke-width': 6}));
  let offset = 25;
  for (const b of BANDS) {
    const share = total ? ((bands[b] || 0) / total) * 100 : 0;
    if (share <= 0) continue;
    svg.append(el('circle', {cx: 21, cy: 21, r: 15.915, fill: 'none', stroke: BAND_COLORS[b], 'stroke-width': 6,
      'stroke-dasharray': `${share} ${100 - share}`, 'stroke-dashoffset': offset, 'data-band': b},
    el('title', {}, `${t(b)}: ${bands[b]}`)));
    offset -= share;
  }
  svg.append(el('text', {x: 21, y: 23, 'text-anchor': 'middle', style: 'font-size:6px;fill:#1d2733'}, fmt(total, 0)));
  return svg;
}

function legend(bands) {
  const total = BANDS.reduce((s, b) => s + (bands[b] || 0), 0);
  return el('div', {class: 'legend'}, BANDS.map((b) => el('span', {},
    el('i', {style: 'background:' + BAND_COLORS[b]}),
    `${t(b)} ${fmt(bands[b] || 0, 0)} (${total ? fmt((100 * (bands[b] || 0)) / total) : 0} %)`)));
}

function bandMix(periods, width = 640, height = 180) {
  const svg = el('svg', {width: '100%', height, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none',
    'data-testid': 'band-mix-chart'});
  const shown = periods.filter((p) => p.computed);
  const bw = shown.length ? (width - 20) / shown.length : 0;
  shown.forEach((p, i) => {
    const total = BANDS.reduce((s, b) => s + (p.bands[b] || 0), 0) || 1;
    let y = height - 16;
    for (const b of BANDS) {
      const h = ((p.bands[b] || 0) / total) * (height - 20);
      if (h <= 0) continue;
      y -= h;
      svg.append(el('rect', {x: 10 + i * bw + 2, y, width: Math.max(bw - 4, 1), height: h, fill: BAND_COLORS[b]},
        el('title', {}, `${p.period} ${t(b)}: ${p.bands[b]}`)));
    }
    svg.append(el('text', {x: 10 + i * bw + bw / 2, y: height - 3, 'text-anchor': 'middle'}, p.period.slice(2)));
  });
  return svg;
}

// Daily scores with the 60/40 lines and dashed markers where the scoring configuration changed.
function scoreChart(history, changes, width = 900, height = 220) {
  const svg = el('svg', {width: '100%', height, viewBox: `0 0 ${width} ${height}`, 'data-testid': 'score-chart'});
  if (!history.length) return svg;
  const x0 = 30, x1 = width - 10, y = (v) => 10 + (1 - v / 100) * (height - 30);
  const days = history.map((h) => Date.parse(h.day));
  const d0 = days[0], d1 = days[days.length - 1] === d0 ? d0 + 1 : days[days.length - 1];
  const x = (d) => x0 + ((d - d0) / (d1 - d0)) * (x1 - x0);
  for (const [v, c] of [[80, BAND_COLORS.green], [60, BAND_COLORS.yellow], [40, BAND_COLORS.red]]) {
    svg.append(el('line', {x1: x0, x2: x1, y1: y(v), y2: y(v), stroke: c, 'stroke-opacity': 0.4}));
    svg.append(el('text', {x: 2, y: y(v) + 3}, String(v)));
  }
  svg.append(el('polyline', {fill: 'none', stroke: '#2856c3', 'stroke-width': 2,
    points: history.map((h, i) => `${x(days[i]).toFixed(1)},${y(h.score).toFixed(1)}`).join(' ')}));
  for (const c of changes) {
    const cx = x(Date.parse(c.day));
    svg.append(el('line', {x1: cx, x2: cx, y1: 8, y2: height - 20, stroke: '#1d2733', 'stroke-dasharray': '4 3',
      class: 'config-marker', 'data-day': c.day}, el('title', {}, `${c.day}: ${t('config_changed')}`)));
    svg.append(el('text', {x: cx + 3, y: 18}, t('config_changed')));
  }
  svg.append(el('text', {x: x0, y: height - 4}, history[0].day));
  svg.append(el('text', {x: x1, y: height - 4, 'text-anchor': 'end'}, history[history.length - 1].day));
  return svg;
}

function setFreshness(f) {
  const when = (v) => (v ? new Date(v).toLocaleString(state.lang === 'ja' ? 'ja-JP' : 'en-US') : t('never'));
  document.getElementById('freshness').textContent =
    `${t('last_sync')}: ${when(f.last_sync)} · ${t('last_score')}: ${when(f.last_score_run)}` +
    ` · ${t('kpis_through')}: ${f.kpis_through || t('never')}`;
}

function setChrome() {
  document.documentElement.lang = state.lang;
  document.getElementById('lang').textContent = state.lang === 'ja' ? 'English' : '日本語';
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  const signedIn = Boolean(state.token);
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('signout').hidden = !signedIn;
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', a.getAttribute('href') === (location.hash || '#/'));
}

function signIn(message) {
  state.token = '';
  sessionStorage.removeItem('cshealthd.token');
  document.getElementById('freshness').textContent = '';
  setChrome();
  const input = el('input', {type: 'password', id: 'token', autocomplete: 'current-password', 'data-testid': 'token'});
  const form = el('form', {class: 'card signin', 'data-testid': 'signin', onsubmit: (ev) => {
    ev.preventDefault();
    state.token = input.value.trim();
    sessionStorage.setItem('cshealthd.token', state.token);
    render();
  }}, el('h1', {}, t('sign_in_title')), el('label', {for: 'token'}, t('token')), input,
  message ? el('p', {class: 'error', 'data-testid': 'signin-error'}, message) : null,
  el('button', {type: 'submit', 'data-testid': 'signin-submit'}, t('sign_in')));
  document.getElementById('app').replaceChildren(form);
  input.focus();
}

async function overview(app) {
  const [kpis, risk, renewals] = await Promise.all([
    api('/v1/kpis?granularity=month'),
    api(riskPath()),
    api('/v1/renewals?within_days=90&limit=100'),
  ]);
  const periods = kpis.periods;
  // The tiles show the last full month (this morning's report); the month so far is the trend's last point.
  const computed = periods.filter((p) => p.computed);
  const latest = [...computed].reverse().find((p) => p.through === p.last) || computed[computed.length - 1] ||
    periods[periods.length - 1];
  const current = computed[computed.length - 1] || latest;
  const series = (name) => periods.map((p) => (p.kpis.find((k) => k.name === name) || {}).value ?? null);
  const tiles = el('div', {class: 'grid tiles', 'data-testid': 'tiles'}, TILE_KPIS.map((name) => {
    const k = latest.kpis.find((x) => x.name === name);
    const cls = k.met === true ? 'met' : k.met === false ? 'missed' : 'none';
    const target = k.target === null ? '' :
      `${t('target')} ${k.direction === 'at_least' ? '≥' : '≤'} ${kpiText({...k, value: k.target})}`;
    return el('div', {class: 'card tile ' + cls, 'data-testid': 'tile-' + name, 'data-has-value': String(k.value !== null)},
      el('div', {class: 'label'}, `${t(name)} · ${latest.period}`),
      el('div', {class: 'value'}, kpiText(k)),
      el('div', {class: 'target'}, target, k.met === null ? '' : ` · ${t(k.met ? 'met' : 'missed')}`),
      sparkline(series(name)));
  }));
  const dist = card(t('health_distribution'), 'distribution',
    el('p', {class: 'muted'}, current.period + (current.through ? ' · ' + current.through : '')),
    el('div', {style: 'display:flex;gap:16px;align-items:center;flex-wrap:wrap'}, donut(current.bands), legend(current.bands)));
  const mix = card(t('band_mix'), 'band-mix', bandMix(periods));
  app.replaceChildren(tiles, el('div', {class: 'grid two'}, dist, mix), riskCard(risk), renewalsCard(renewals));
}

function riskPath() {
  const r = state.risk;
  const q = new URLSearchParams({limit: '100', sort: r.sort, order: r.order});
  if (r.segment) q.set('segment', r.segment);
  if (r.owner) q.set('owner', r.owner);
  return '/v1/at-risk?' + q;
}

function riskCard(risk) {
  const r = state.risk;
  const select = (key, all, options) => el('select', {'data-testid': 'filter-' + key, onchange: async (ev) => {
    r[key] = ev.target.value;
    document.querySelector('[data-testid=at-risk]').replaceWith(riskCard(await api(riskPath())));
  }}, el('option', {value: ''}, all), options.map((o) => el('option', {value: o.id, selected: r[key] === o.id}, o.name)));
  const head = (key, label, num) => el('th', {class: 'sortable' + (num ? ' num' : '') + (r.sort === key ? ' sorted-' + r.order : ''),
    'data-sort': key, onclick: async () => {
      r.order = r.sort === key && r.order === 'asc' ? 'desc' : 'asc';
      r.sort = key;
      document.querySelector('[data-testid=at-risk]').replaceWith(riskCard(await api(riskPath())));
    }}, label);
  const rows = risk.companies.map((c) => el('tr', {'data-company': c.company_id},
    el('td', {}, el('a', {href: '#/company/' + c.company_id, 'data-testid': 'at-risk-link'}, c.name || c.company_id)),
    el('td', {class: 'num'}, badge(c.status, c.score)),
    el('td', {}, c.segment),
    el('td', {}, c.owner || t('none')),
    el('td', {}, (c.reasons || []).map((x) => el('div', {}, x))),
    el('td', {}, c.open_alerts.length ? c.open_alerts.map((a) => el('span', {class: 'chip'}, `${a.rule} · ${a.opened_on}`)) : t('none')),
    el('td', {class: 'num'}, fmt(c.mrr, 0))));
  const meta = state.meta || {segments: [], owners: []};
  return card(`${t('at_risk')} · ${fmt(risk.total, 0)}`, 'at-risk',
    el('div', {class: 'filters'},
      select('segment', t('all_segments'), meta.segments.map((s) => ({id: s, name: s}))),
      select('owner', t('all_owners'), meta.owners)),
    table([head('name', t('company')), head('score', t('score'), true), el('th', {}, t('segment')), head('owner', t('owner')),
      el('th', {}, t('reasons')), el('th', {}, t('open_tasks')), head('mrr', t('mrr'), true)], rows, 'at-risk-table'));
}

function renewalsCard(r) {
  const rows = r.renewals.map((c) => el('tr', {},
    el('td', {}, el('a', {href: '#/company/' + c.company_id}, c.name || c.company_id)),
    el('td', {}, c.renewal_date), el('td', {class: 'num'}, c.days_left),
    el('td', {class: 'num'}, c.score === null ? badge('unknown') : badge(c.status, c.score)),
    el('td', {}, c.owner || t('none')),
    el('td', {}, c.play_steps.length ? c.play_steps.map((s) => el('span', {class: 'chip'}, `${s.step} · ${s.day}`)) : t('none')),
    el('td', {class: 'num'}, fmt(c.mrr, 0))));
  return card(`${t('renewals')} · ${fmt(r.total, 0)}`, 'renewals',
    table([t('company'), t('renewal_date'), t('days_left'), t('score'), t('owner'), t('play'), t('mrr')], rows, 'renewals-table'));
}

async function companyPage(app, id) {
  const [page, health, overrides] = await Promise.all([
    api(`/v1/companies/${encodeURIComponent(id)}/page?days=180`),
    api(`/v1/companies/${encodeURIComponent(id)}/health`),
    api(`/v1/companies/${encodeURIComponent(id)}/overrides`),
  ]);
  if (!page) {
    app.replaceChildren(el('h1', {}, t('not_found')));
    return;
  }
  const fact = (label, value) => el('div', {}, el('b', {}, label), value ?? '—');
  const head = el('section', {class: 'card', 'data-testid': 'company-facts'},
    el('h1', {'data-testid': 'company-name'}, page.name || page.company_id, ' ', health ? badge(health.status, health.score) : ''),
    el('div', {class: 'facts'}, fact(t('owner'), page.owner), fact(t('plan'), page.plan), fact(t('mrr'), fmt(page.mrr, 0)),
      fact(t('renewal_date'), page.renewal_date), fact(t('cs_stage'), page.cs_stage), fact(t('segment'), health && health.segment),
      fact(t('churn_risk'), health && health.churn_risk !== null && health.churn_risk !== undefined ? fmt(health.churn_risk * 100) + ' %' : null),
      fact(t('expansion_likelihood'), health && health.expansion_likelihood !== null && health.expansion_likelihood !== undefined ? fmt(health.expansion_likelihood * 100) + ' %' : null)));
  const chart = card(t('score_history'), 'company-history', scoreChart(page.history, page.config_changes),
    el('p', {class: 'muted'}, t('config_marker_note')));
  const raw = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? fmt(v, 2) : v);
  const comps = health ? health.components.map((c) => el('tr', {},
    el('td', {}, c.label || c.name), el('td', {class: 'num'}, raw(c.raw)),
    el('td', {class: 'num'}, c.points === null ? '—' : `${fmt(c.points)} / ${fmt(c.max_points)}`),
    el('td', {class: 'num'}, c.weight <= 1 ? fmt(c.weight * 100) + ' %' : fmt(c.weight)), el('td', {class: 'muted'}, c.rule))) : [];
  const sigs = health ? health.signals.map((s) => el('tr', {}, el('td', {}, s.name), el('td', {}, s.kind), el('td', {}, s.priority))) : [];
  const ovs = overrides ? overrides.overrides.map((o) => el('tr', {},
    el('td', {}, o.component || t('score')), el('td', {class: 'num'}, fmt(o.value)), el('td', {}, o.reason), el('td', {}, o.author),
    el('td', {}, o.expires_on), el('td', {}, o.revoked ? t('revoked') : ''))) : [];
  const tasks = page.tasks.map((x) => el('tr', {}, el('td', {}, x.kind), el('td', {}, x.name), el('td', {}, x.day),
    el('td', {}, x.open === null ? (x.action || '') : x.open ? t('open') : t('done'))));
  app.replaceChildren(head, chart,
    el('div', {class: 'grid two'},
      card(t('components'), 'company-components', table([t('name'), t('raw'), t('points'), t('weight'), t('rule')], comps)),
      card(t('signals'), 'company-signals', table([t('name'), t('kind'), t('priority')], sigs),
        el('h2', {}, t('reasons')), el('ul', {}, (health ? health.reasons : []).map((r) => el('li', {}, r))))),
    card(t('overrides'), 'company-overrides', table([t('components'), t('value'), t('reason'), t('author'), t('expires'), ''], ovs)),
    card(t('tasks'), 'company-tasks', table([t('kind'), t('name'), t('day'), t('status')], tasks)));
}

async function churnPage(app) {
  const a = await api('/v1/churn-analysis?limit=200');
  const s = a.summary;
  const stat = (label, value, testid) => el('div', {class: 'card tile none', 'data-testid': testid},
    el('div', {class: 'label'}, label), el('div', {class: 'value'}, value));
  const pct = (v) => (v === null ? '—' : fmt(v) + ' %');
  const stats = el('div', {class: 'grid tiles', 'data-testid': 'churn-summary'},
    stat(t('churns'), fmt(s.churned, 0), 'churn-count'),
    s.red_or_orange_before.map((lb) => stat(t('red_orange_before', {d: lb.days}), pct(lb.share), 'churn-before-' + lb.days)),
    stat(t('median_lead'), s.median_warning_lead_days === null ? '—' : fmt(s.median_warning_lead_days) + ' ' + t('days'), 'churn-lead'),
    stat(t('alerts_acted'), pct(s.alerts_acted_on_share), 'churn-acted'));
  const reasons = card(t('churn_reasons'), 'churn-reasons', el('div', {}, Object.entries(s.reasons).map(([k, v]) =>
    el('span', {class: 'chip'}, `${k}: ${v}`))));
  const rows = a.churns.map((c) => el('tr', {},
    el('td', {}, el('a', {href: '#/company/' + c.company_id}, c.name || c.company_id)),
    el('td', {}, c.churn_day), el('td', {}, c.source), el('td', {}, c.reason || '—'), el('td', {class: 'num'}, fmt(c.mrr_lost, 0)),
    el('td', {}, ['90', '60', '30'].map((d) => (c.band_before[d] ? el('span', {class: 'badge ' + c.band_before[d], title: d}, d) : el('span', {class: 'chip'}, d)))),
    el('td', {class: 'num'}, c.warning_lead_days === null ? '—' : c.warning_lead_days),
    el('td', {}, c.signals.map((x) => el('span', {class: 'chip'}, `${x.name} · ${x.first_day}`))),
    el('td', {}, `${c.alerts.filter((x) => x.acted_on).length} ${t('of')} ${c.alerts.length}`),
    el('td', {}, sparkline(c.history.map((h) => h.score), 120, 28))));
  app.replaceChildren(stats, reasons, card(`${t('churns')} · ${a.from} – ${a.to}`, 'churns',
    table([t('company'), t('churn_day'), t('source'), t('reason'), t('mrr_lost'), t('before'), t('lead'), t('signals'), t('alerts'), t('score_history')], rows, 'churn-table')));
}

// The ROC curve of a backtest: [fpr, tpr] corners, the diagonal (chance) dashed.
function rocChart(points, size = 300) {
  const pad = 30, w = size - pad - 10;
  const svg = el('svg', {width: size, height: size, viewBox: `0 0 ${size} ${size}`, 'data-testid': 'roc-chart'});
  const x = (v) => pad + v * w, y = (v) => size - pad - v * w;
  svg.append(el('rect', {x: pad, y: y(1), width: w, height: w, fill: 'none', stroke: '#e2e6ea'}));
  svg.append(el('line', {x1: x(0), y1: y(0), x2: x(1), y2: y(1), stroke: '#9aa3ad', 'stroke-dasharray': '4 3'}));
  if (points.length)
    svg.append(el('polyline', {fill: 'none', stroke: '#2856c3', 'stroke-width': 2,
      points: points.map(([f, tp]) => `${x(f).toFixed(1)},${y(tp).toFixed(1)}`).join(' ')}));
  for (const v of [0, 0.5, 1]) {
    svg.append(el('text', {x: x(v), y: size - pad + 14, 'text-anchor': 'middle'}, String(v)));
    svg.append(el('text', {x: pad - 4, y: y(v) + 3, 'text-anchor': 'end'}, String(v)));
  }
  return svg;
}

// A bar for a share (0-1) inside a table cell.
function bar(share, color) {
  const wrap = el('span', {class: 'bar'});
  wrap.append(el('i', {style: `width:${Math.round(Math.max(0, Math.min(1, share || 0)) * 100)}%;background:${color}`}));
  return wrap;
}

async function qualityPage(app) {
  const [list, cals] = await Promise.all([api('/v1/backtests?limit=20'), api('/v1/calibrations?limit=1')]);
  if (!list.backtests.length) {
    app.replaceChildren(card(t('nav_quality'), 'quality-empty', el('p', {class: 'muted'}, t('no_backtest'))));
    return;
  }
  const id = list.backtests.some((b) => b.id === state.quality.id) ? state.quality.id : list.backtests[0].id;
  const [bt, cal] = await Promise.all([api('/v1/backtests/' + id),
    cals.calibrations.length ? api('/v1/calibrations/' + cals.calibrations[0].id) : null]);
  const r = bt.backtest;
  const pct = (v) => (v === null || v === undefined ? '—' : fmt(v * 100) + ' %');
  const aucText = (a) => (a && a.value !== null && a.value !== undefined ?
    `${fmt(a.value, 3)} [${fmt(a.low, 3)}, ${fmt(a.high, 3)}]` : '—');
  const picker = el('select', {'data-testid': 'quality-backtest', onchange: (ev) => {
    state.quality.id = Number(ev.target.value);
    render();
  }}, list.backtests.map((b) => el('option', {value: b.id, selected: b.id === id},
    `${t('backtest_label')} ${b.id} · ${b.from} – ${b.to} · ${b.scorecard}`)));
  const stat = (label, value, testid) => el('div', {class: 'card tile none', 'data-testid': testid},
    el('div', {class: 'label'}, label), el('div', {class: 'value'}, value));
  const tiles = el('div', {class: 'grid tiles', 'data-testid': 'quality-tiles'},
    stat(t('auc'), aucText(r.auc), 'quality-auc'),
    stat(t('lift'), r.top_decile_lift === null ? '—' : fmt(r.top_decile_lift, 2) + '×', 'quality-lift'),
    stat(t('recall_ro'), pct(r.recall_red_orange), 'quality-recall'),
    stat(t('false_alarm'), pct(r.false_alarm_red_orange), 'quality-false-alarm'),
    stat(t('median_lead'), r.median_lead_days === null ? '—' : t('lead_days', {d: fmt(r.median_lead_days, 0)}), 'quality-lead'));
  const bands = r.bands.map((b) => el('tr', {}, el('td', {}, badge(b.band)), el('td', {class: 'num'}, fmt(b.observations, 0)),
    el('td', {class: 'num'}, fmt(b.churned, 0)), el('td', {class: 'num'}, pct(b.churn_rate)),
    el('td', {}, bar(b.churn_rate, BAND_COLORS[b.band] || BAND_COLORS.unknown))));
  const comps = r.components.map((c) => el('tr', {}, el('td', {}, c.name), el('td', {class: 'num'}, fmt(c.observations, 0)),
    el('td', {class: 'num'}, aucText(c.auc)), el('td', {}, bar(c.auc.value === null ? 0 : (c.auc.value - 0.5) * 2, '#2856c3'))));
  const parts = [el('div', {class: 'filters'}, picker), tiles,
    el('div', {class: 'grid two'},
      card(t('roc'), 'quality-roc', rocChart(r.roc || []), el('p', {class: 'muted'}, t('roc_note'))),
      el('div', {},
        card(t('band_churn'), 'quality-bands', table([t('status'), t('observations'), t('churned_n'), t('churn_rate_col'), ''], bands, 'quality-bands-table')),
        card(t('component_auc'), 'quality-components', table([t('name'), t('observations'), t('auc'), ''], comps, 'quality-components-table'))))];
  parts.push(calibrationCard(cal ? cal.calibration : null, pct, aucText));
  app.replaceChildren(...parts);
}

function calibrationCard(c, pct, aucText) {
  if (!c) return card(t('calibration'), 'quality-calibration', el('p', {class: 'muted'}, t('no_calibration')));
  const head = el('p', {class: 'muted'}, `#${c.id} · ${c.scorecard} · ${c.created_at}`);
  if (c.status !== 'proposed')
    return card(t('calibration'), 'quality-calibration', head, el('p', {'data-testid': 'calibration-refused'},
      `${t('nothing_proposed')}: ${c.reason}`));
  const rows = c.weights.map((w) => el('tr', {}, el('td', {}, w.name), el('td', {class: 'num'}, fmt(w.current, 0)),
    el('td', {class: 'num'}, fmt(w.proposed, 0)), el('td', {class: 'muted'}, w.why)));
  const o = c.out_of_time, p = c.churn_probability;
  return card(t('calibration'), 'quality-calibration', head,
    el('p', {'data-testid': 'calibration-auc'}, `${t('out_of_time')}: ${t('current')} ${aucText(o.current.auc)} · ` +
      `${t('proposed')} ${aucText(o.proposed.auc)}`),
    el('p', {}, `${t('brier')}: ${fmt(p.brier, 4)} (${t('base_rate')} ${fmt(p.brier_base_rate, 4)})`),
    table([t('name'), t('current'), t('proposed'), t('why')], rows, 'calibration-weights'));
}

async function render() {
  setChrome();
  const app = document.getElementById('app');
  if (!state.token) return signIn();
  app.dataset.ready = 'false';
  app.replaceChildren(el('p', {class: 'muted'}, t('loading')));
  try {
    state.meta = await api('/v1/dashboard');
    if (!state.lang) {
      state.lang = state.meta.locale === 'en' ? 'en' : 'ja';
      setChrome();
    }
    setFreshness(state.meta.freshness);
    const route = (location.hash || '#/').slice(1);
    const company = route.match(/^\/company\/(\d{1,18})$/);
    if (company) await companyPage(app, company[1]);
    else if (route === '/churn') await churnPage(app);
    else if (route === '/quality') await qualityPage(app);
    else await overview(app);
    app.dataset.page = company ? 'company' : route === '/churn' ? 'churn' : route === '/quality' ? 'quality' : 'overview';
    app.dataset.ready = 'true';
  } catch (e) {
    if (e instanceof AuthError) return signIn(t('bad_token'));
    app.replaceChildren(el('p', {class: 'error', 'data-testid': 'error'}, String(e.message || e)));
  }
}

document.getElementById('lang').addEventListener('click', () => {
  state.lang = state.lang === 'ja' ? 'en' : 'ja';
  localStorage.setItem('cshealthd.lang', state.lang);
  render();
});
document.getElementById('signout').addEventListener('click', () => signIn());
window.addEventListener('hashchange', () => {
  document.getElementById('app').dataset.ready = 'false';
  render();
});
if (!state.lang) state.lang = (navigator.language || '').startsWith('ja') ? 'ja' : '';
render();
