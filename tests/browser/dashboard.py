#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium over the DevTools protocol (a pipe: no port, no extra
packages) against a running cshealthd:

  dashboard.py --url http://127.0.0.1:PORT --token TOKEN --out DIR [--chromium PATH]

Signs in (a wrong token first, refused), checks that every panel renders with data in Japanese and in
English, follows the first at-risk company to its page, opens the churn analysis and the score-quality
page (the latest backtest's figures and ROC curve, the latest calibration), saves a screenshot of each page, and measures what the first load transferred. Any JavaScript error or CSP violation fails it.
Prints one JSON line of results; exit status 0 only when every check held.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, binary, profile):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds():
            # Chromium reads fd 3 and writes fd 4. Copied out of the way first: either end may be 3 or 4.
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [binary, '--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu',
                '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--disable-sync',
                '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
                '--metrics-recording-only', '--mute-audio', '--user-data-dir=' + profile, 'about:blank']
        # Not close_fds: it would close 3 and 4 after fds() made them (the pipes' own ends are
        # non-inheritable, so only 3 and 4 reach Chromium).
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b''
        self._id = 0
        self.events = []
        self.session = None

    def _read(self, deadline):
        while b'\0' not in self._buf:
            if time.time() > deadline:
                raise TimeoutError('no answer from Chromium')
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError('Chromium closed the pipe')
            self._buf += chunk
        msg, self._buf = self._buf.split(b'\0', 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, timeout=30):
        self._id += 1
        msg = {'id': self._id, 'method': method, 'params': params or {}}
        if session and self.session:
            msg['sessionId'] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b'\0')
        deadline = time.time() + timeout
        while True:
            m = self._read(deadline)
            if m.get('id') == self._id:
                if 'error' in m:
                    raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            self.events.append(m)

    def eval(self, expression, timeout=30):
        r = self.send('Runtime.evaluate', {'expression': expression, 'returnByValue': True, 'awaitPromise': True},
                      timeout=timeout)
        if 'exceptionDetails' in r:
            raise RuntimeError(f'{expression[:80]}: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def wait(self, expression, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval(expression):
                return
            time.sleep(0.1)
        raise TimeoutError('waited for: ' + expression)

    def click(self, selector):
        # A real click at the element's centre (scrolled into view), checked to land on it.
        box = self.eval(f'(() => {{ const e = document.querySelector({json.dumps(selector)});'
                        ' e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();'
                        ' const x = r.x + r.width / 2, y = r.y + r.height / 2;'
                        ' const hit = document.elementFromPoint(x, y);'
                        ' return [x, y, !!hit && (hit === e || e.contains(hit)), hit ? hit.outerHTML.slice(0, 200) : ""]; })()')
        if not box[2]:
            raise RuntimeError(f'a click on {selector} would land on {box[3]!r}')
        self.send('Input.dispatchMouseEvent', {'type': 'mouseMoved', 'x': box[0], 'y': box[1]})
        for kind in ('mousePressed', 'mouseReleased'):
            self.send('Input.dispatchMouseEvent', {'type': kind, 'x': box[0], 'y': box[1], 'button': 'left',
                                                   'clickCount': 1})

    def screenshot(self, path):
        data = self.send('Page.captureScreenshot', {'format': 'png', 'captureBeyondViewport': True})['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send('Browser.close', session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


READY = "document.getElementById('app').dataset.ready === 'true'"

# Every panel of the overview with data: the tiles (with values), the donut, the band mix, both lists.
OVERVIEW_CHECK = """(() => {
  const q = (s) => document.querySelectorAll(s);
  const tiles = [...q('[data-testid^=tile-]')];
  return {
    page: document.getElementById('app').dataset.page,
    tiles: tiles.length,
    tiles_with_value: tiles.filter((t) => t.dataset.hasValue === 'true').map((t) => t.dataset.testid),
    tile_text: tiles.map((t) => t.innerText),
    donut_slices: q('[data-testid=donut] circle[data-band]').length,
    band_mix_bars: q('[data-testid=band-mix-chart] rect').length,
    at_risk_rows: q('[data-testid=at-risk-table] tbody tr').length,
    renewal_rows: q('[data-testid=renewals-table] tbody tr').length,
    freshness: document.getElementById('freshness').innerText,
    headings: [...q('h2')].map((h) => h.innerText),
    nav: document.getElementById('nav').innerText,
    lang: document.documentElement.lang,
  };
})()"""

COMPANY_CHECK = """(() => {
  const q = (s) => document.querySelectorAll(s);
  return {
    page: document.getElementById('app').dataset.page,
    name: (document.querySelector('[data-testid=company-name]') || {}).innerText || '',
    chart_lines: q('[data-testid=score-chart] polyline').length,
    markers: q('[data-testid=score-chart] .config-marker').length,
    components: q('[data-testid=company-components] tbody tr').length,
    tasks: q('[data-testid=company-tasks] tbody tr').length,
    freshness: document.getElementById('freshness').innerText,
  };
})()"""

CHURN_CHECK = """(() => {
  const q = (s) => document.querySelectorAll(s);
  return {
    page: document.getElementById('app').dataset.page,
    summary_tiles: q('[data-testid=churn-summary] .tile').length,
    churn_rows: q('[data-testid=churn-table] tbody tr').length,
    count: (document.querySelector('[data-testid=churn-count] .value') || {}).innerText || '',
    reasons: q('[data-testid=churn-reasons] .chip').length,
    headings: [...q('h2')].map((h) => h.innerText),
  };
})()"""

QUALITY_CHECK = """(() => {
  const q = (s) => document.querySelectorAll(s);
  const roc = document.querySelector('[data-testid=roc-chart] polyline');
  return {
    page: document.getElementById('app').dataset.page,
    tiles: q('[data-testid=quality-tiles] .tile').length,
    auc: (document.querySelector('[data-testid=quality-auc] .value') || {}).innerText || '',
    roc_points: roc ? roc.getAttribute('points').trim().split(/\\s+/).length : 0,
    band_rows: q('[data-testid=quality-bands-table] tbody tr').length,
    component_rows: q('[data-testid=quality-components-table] tbody tr').length,
    calibration: (document.querySelector('[data-testid=quality-calibration]') || {}).innerText || '',
    backtests: q('[data-testid=quality-backtest] option').length,
    headings: [...q('h2')].map((h) => h.innerText),
  };
})()"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', required=True)
    ap.add_argument('--token', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--chromium', default=shutil.which('chromium') or shutil.which('chromium-browser'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    failures = []
    results = {}

    def check(cond, what):
        if not cond:
            failures.append(what)

    profile = tempfile.mkdtemp(prefix='cshealthd-chromium-')
    b = Browser(a.chromium, profile)
    try:
        target = b.send('Target.createTarget', {'url': 'about:blank'}, session=False)['targetId']
        b.session = b.send('Target.attachToTarget', {'targetId': target, 'flatten': True}, session=False)['sessionId']
        for domain in ('Page', 'Runtime', 'Network', 'Log'):
            b.send(domain + '.enable')
        b.send('Emulation.setDeviceMetricsOverride', {'width': 1400, 'height': 1000, 'deviceScaleFactor': 1,
                                                      'mobile': False})
        b.send('Page.navigate', {'url': a.url + '/'})
        b.wait("!!document.querySelector('[data-testid=signin]')")
        # A wrong token is refused, and the form says so.
        b.click('[data-testid=token]')
        b.send('Input.insertText', {'text': 'not-the-token'})
        b.click('[data-testid=signin-submit]')
        b.wait("!!document.querySelector('[data-testid=signin-error]')")
        # The real one.
        b.eval("document.querySelector('[data-testid=token]').value = ''")
        b.click('[data-testid=token]')
        b.send('Input.insertText', {'text': a.token})
        b.click('[data-testid=signin-submit]')
        b.wait(READY)
        if b.eval('document.documentElement.lang') != 'ja':
            b.click('#lang')
            b.wait(READY + " && document.documentElement.lang === 'ja'")
        # What the first load transferred (the page, its assets and the overview's API answers).
        transferred = sum(e['params'].get('encodedDataLength', 0) for e in b.events
                          if e.get('method') == 'Network.loadingFinished')
        results['first_load_bytes'] = transferred
        check(transferred < 500 * 1024, f'first load transferred {transferred} bytes (budget 500 KB)')

        def overview(lang, words):
            r = b.eval(OVERVIEW_CHECK)
            results['overview_' + lang] = r
            check(r['page'] == 'overview', f'{lang}: overview page')
            check(r['tiles'] == 5, f'{lang}: 5 KPI tiles, got {r["tiles"]}')
            for name in ('nrr', 'grr', 'churn_rate', 'nps'):
                check('tile-' + name in r['tiles_with_value'], f'{lang}: tile {name} has a value')
            check(r['donut_slices'] >= 1, f'{lang}: donut has slices')
            check(r['band_mix_bars'] >= 2, f'{lang}: band mix has bars')
            check(r['at_risk_rows'] >= 1, f'{lang}: at-risk rows')
            check(r['renewal_rows'] >= 1, f'{lang}: renewal rows')
            check(r['lang'] == lang, f'{lang}: document language {r["lang"]}')
            for w in words:
                check(any(w in h for h in r['headings']) or w in r['freshness'] or w in r['nav'],
                      f'{lang}: "{w}" shown')
            b.screenshot(os.path.join(a.out, f'overview-{lang}.png'))

        overview('ja', ['ヘルススコア分布', 'リスク顧客', '更新', '最終同期'])
        # Sort the at-risk list by score, highest first, and filter by the first owner.
        b.click('[data-testid=at-risk] th[data-sort=score]')
        b.wait("document.querySelector('[data-testid=at-risk] th[data-sort=score]').classList.contains('sorted-desc')")
        scores = b.eval("[...document.querySelectorAll('[data-testid=at-risk-table] tbody tr')].map((r) =>"
                        " Number(r.children[1].innerText))")
        check(scores == sorted(scores, reverse=True), f'at-risk sorted by score, highest first: {scores}')
        # Filtered by the first owner: every row is theirs.
        owner = b.eval("(() => { const s = document.querySelector('[data-testid=filter-owner]');"
                       " s.value = s.options[1].value; s.dispatchEvent(new Event('change'));"
                       " return s.options[1].text; })()")
        b.wait("[...document.querySelectorAll('[data-testid=at-risk-table] tbody tr')].every((r) =>"
               f" r.children[3].innerText === {json.dumps(owner)})")
        # From the at-risk list to the company's page.
        name = b.eval("document.querySelector('[data-testid=at-risk-link]').innerText")
        b.click('[data-testid=at-risk-link]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'company'")
        r = b.eval(COMPANY_CHECK)
        results['company_ja'] = r
        check(r['name'].startswith(name), f'company page is {name!r}: {r["name"]!r}')
        check(r['chart_lines'] == 1, 'company: score history drawn')
        check(r['components'] >= 1, 'company: components listed')
        check('最終同期' in r['freshness'], 'company: freshness shown')
        b.screenshot(os.path.join(a.out, 'company-ja.png'))
        # The churn analysis.
        b.click('#nav a[href="#/churn"]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'churn'")
        r = b.eval(CHURN_CHECK)
        results['churn_ja'] = r
        check(r['churn_rows'] >= 1, 'churn: churned customers listed')
        check(r['summary_tiles'] >= 5, 'churn: summary tiles')
        check(any('解約理由' in h for h in r['headings']), 'churn: reasons in Japanese')
        b.screenshot(os.path.join(a.out, 'churn-ja.png'))
        # The score's quality: the latest backtest's figures, its ROC curve, bands and components, and the
        # latest calibration.
        def quality(lang, words):
            r = b.eval(QUALITY_CHECK)
            results['quality_' + lang] = r
            check(r['page'] == 'quality', f'{lang}: quality page')
            check(r['tiles'] == 5, f'{lang}: 5 quality tiles, got {r["tiles"]}')
            check(r['auc'].startswith('0.') or r['auc'].startswith('1'), f'{lang}: AUC shown: {r["auc"]!r}')
            check(r['roc_points'] >= 3, f'{lang}: ROC curve drawn ({r["roc_points"]} points)')
            check(r['band_rows'] >= 2, f'{lang}: band churn rates listed')
            check(r['component_rows'] >= 3, f'{lang}: component AUCs listed')
            check(r['backtests'] >= 1, f'{lang}: backtests to choose from')
            for w in words:
                check(any(w in h for h in r['headings']) or w in r['calibration'], f'{lang}: "{w}" shown')
            b.screenshot(os.path.join(a.out, f'quality-{lang}.png'))

        b.click('#nav a[href="#/quality"]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'quality'")
        quality('ja', ['ROC 曲線', 'スコア帯ごとの解約率', '最新のキャリブレーション'])
        b.click('#nav a[href="#/churn"]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'churn'")
        # English.
        b.click('#lang')
        b.wait(READY + " && document.documentElement.lang === 'en'")
        r = b.eval(CHURN_CHECK)
        check(any('Churn reasons' in h for h in r['headings']), 'churn: reasons in English')
        b.screenshot(os.path.join(a.out, 'churn-en.png'))
        b.click('#nav a[href="#/quality"]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'quality'")
        quality('en', ['ROC curve', 'Churn rate per band', 'Latest calibration'])
        b.click('#nav a[href="#/"]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'overview'")
        overview('en', ['Health distribution', 'At-risk customers', 'Renewals', 'Last sync'])
        b.click('[data-testid=at-risk-link]')
        b.wait(READY + " && document.getElementById('app').dataset.page === 'company'")
        r = b.eval(COMPANY_CHECK)
        results['company_en'] = r
        check('Last sync' in r['freshness'], 'company (en): freshness shown')
        b.screenshot(os.path.join(a.out, 'company-en.png'))
        # Any script error or CSP violation on the way fails the run.
        errors = [e['params'] for e in b.events if e.get('method') == 'Runtime.exceptionThrown' or
                  (e.get('method') == 'Log.entryAdded' and e['params']['entry'].get('level') == 'error' and
                   'not-the-token' not in json.dumps(e) and '401' not in e['params']['entry'].get('text', ''))]
        results['errors'] = errors
        check(not errors, f'no script errors: {errors[:3]}')
    except Exception as e:  # a timeout or a protocol error: report it as a failure
        failures.append(f'{type(e).__name__}: {e}')
        try:
            b.screenshot(os.path.join(a.out, 'failure.png'))
            results['page_text'] = b.eval('document.body.innerText')[:2000]
            results['location'] = b.eval('location.href')
        except Exception:
            pass
    finally:
        b.close()
        shutil.rmtree(profile, ignore_errors=True)
    results['failures'] = failures
    print(json.dumps(results, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
