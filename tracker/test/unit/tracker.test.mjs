// Unit tests of the built tracker in a fake browser (harness.mjs): node --test test/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Page, T0 } from './harness.mjs';

const params = (page, name) => page.events().filter((e) => e.name == name).map((e) => e.params);

test('a page view after a short delay, with the page, a GA4-style client id and a session', async () => {
  const page = new Page();
  assert.equal(page.requests.length, 0, 'events are batched, not sent at once');
  await page.tick(1000);
  assert.equal(page.requests.length, 1);
  const [request] = page.requests;
  assert.equal(request.url, 'https://ff.example.net/v1/collect?measurement_id=G-TEST123');
  assert.equal(typeof request.init.body, 'string', 'a string body is text/plain: no preflight');
  assert.equal(request.init.keepalive, true);
  const [event] = request.body.events;
  assert.equal(event.name, 'page_view');
  assert.match(event.event_id, /^[A-Za-z0-9_.:-]{1,64}$/);
  assert.equal(event.timestamp_micros, undefined, 'sent at once: the server stamps the time');
  assert.deepEqual(event.params, {
    page_location: 'https://shop.example.com/products?utm_source=news', // no fragment
    page_title: 'Products',
    language: 'en-GB',
    screen_resolution: '1920x1080',
    session_id: T0 / 1000,
    session_number: 1,
    page_referrer: 'https://search.example/',
  });
  assert.match(request.body.client_id, /^\d+\.\d{10}$/);
  assert.equal(request.body.client_id.split('.')[1], String(T0 / 1000));
  assert.equal(page.storage.get('ff_id'), request.body.client_id);
});

test('the api attribute names another collector', async () => {
  const page = new Page({ attrs: { api: 'https://collect.example.org/v1/collect' } });
  await page.tick(1000);
  assert.equal(page.requests[0].url, 'https://collect.example.org/v1/collect?measurement_id=G-TEST123');
});

test('calls queued before the script loaded run, consent first', async () => {
  const page = new Page({
    queue: [
      ['event', 'sign_up', { method: 'email' }],
      ['consent', 'denied'],
    ],
  });
  page.footfall('event', 'later', { n: 2 });
  await page.tick(1000);
  assert.deepEqual(page.names(), ['page_view', 'sign_up', 'later']);
  assert.equal(params(page, 'sign_up')[0].method, 'email');
  assert.equal(params(page, 'later')[0].n, 2);
  assert.equal(page.requests[0].body.client_id, undefined, 'consent was denied before the page view');
});

test('every event gets its own event id', async () => {
  const page = new Page();
  for (let i = 0; i < 10; i++) page.footfall('event', 'tap');
  await page.tick(1000);
  const ids = page.events().map((e) => e.event_id);
  assert.equal(new Set(ids).size, 11);
});

test('single-page apps: pushState, replaceState and popstate are page views', async () => {
  const page = new Page();
  await page.tick(3000);
  page.navigate('/pricing');
  page.win.history.replaceState({}, '', '/pricing'); // same URL: no page view
  await page.tick(2000);
  page.win.history.replaceState({}, '', '/pricing?plan=pro');
  page.win.location.href = 'https://shop.example.com/about';
  page.win.fire('popstate');
  page.win.location.href = 'https://shop.example.com/about#team'; // a fragment is not a page
  page.win.fire('popstate');
  await page.tick(1000);
  const views = params(page, 'page_view');
  assert.deepEqual(
    views.map((p) => [p.page_location, p.page_referrer]),
    [
      ['https://shop.example.com/products?utm_source=news', 'https://search.example/'],
      ['https://shop.example.com/pricing', 'https://shop.example.com/products?utm_source=news'],
      ['https://shop.example.com/pricing?plan=pro', 'https://shop.example.com/pricing'],
      ['https://shop.example.com/about', 'https://shop.example.com/pricing?plan=pro'],
    ],
  );
  // the time on each page, sent before the next page view and with the page it was spent on
  const engaged = params(page, 'user_engagement');
  assert.deepEqual(
    engaged.map((p) => [p.page_location, p.engagement_time_msec]),
    [
      ['https://shop.example.com/products?utm_source=news', 3000],
      ['https://shop.example.com/pricing', 2000],
    ],
  );
});

test('hash routing as an option: the route becomes the path', async () => {
  const page = new Page({ url: 'https://app.example.com/?utm_source=x#/inbox', attrs: { hash: '' } });
  page.win.location.href = 'https://app.example.com/?utm_source=x#/settings';
  page.win.fire('hashchange');
  await page.tick(1000);
  assert.deepEqual(
    params(page, 'page_view').map((p) => p.page_location),
    ['https://app.example.com/inbox?utm_source=x', 'https://app.example.com/settings?utm_source=x'],
  );
  const plain = new Page({ url: 'https://app.example.com/#/inbox' });
  plain.win.location.href = 'https://app.example.com/#/settings';
  plain.win.fire('hashchange');
  await plain.tick(1000);
  assert.deepEqual(plain.names(), ['page_view']);
});

test('a full batch goes at once; the collector takes at most 25 events', async () => {
  const page = new Page();
  for (let i = 0; i < 29; i++) page.footfall('event', 'tap', { i });
  assert.equal(page.requests.length, 1, 'the 25th event sends the batch');
  assert.equal(page.requests[0].body.events.length, 25);
  await page.tick(0); // the rest goes as soon as the first batch is answered
  assert.deepEqual(page.requests.map((r) => r.body.events.length), [25, 5]);
});

test('a failed send is retried with backoff, with the same event ids and their creation time', async () => {
  const page = new Page({ statuses: [503, 0, 429, 200] });
  await page.tick(1000); // 503
  const first = page.events()[0];
  assert.ok(page.storage.get('ff_q').includes(first.event_id), 'kept in the offline queue');
  await page.tick(999);
  assert.equal(page.requests.length, 1, 'the first retry waits a second');
  await page.tick(1); // network error
  await page.tick(2000); // 429
  assert.equal(page.requests.length, 3);
  await page.tick(3999);
  assert.equal(page.requests.length, 3, 'then four seconds');
  await page.tick(1);
  assert.equal(page.requests.length, 4);
  const sent = page.events();
  assert.deepEqual(new Set(sent.map((e) => e.event_id)), new Set([first.event_id]));
  assert.deepEqual(sent.map((e) => e.timestamp_micros), [undefined, T0 * 1000, T0 * 1000, T0 * 1000]);
  assert.equal(page.storage.get('ff_q'), '[]', 'sent: gone from the offline queue');
  await page.tick(60_000);
  assert.equal(page.requests.length, 4);
});

test('a refused request is not retried; 413 splits the batch', async () => {
  const page = new Page({ statuses: [400] });
  await page.tick(60_000);
  assert.equal(page.requests.length, 1);

  const split = new Page({ statuses: [200, 413, 200, 200] });
  await split.tick(1000);
  for (let i = 0; i < 10; i++) split.footfall('event', 'tap', { i });
  await split.tick(1000);
  assert.deepEqual(split.requests.map((r) => r.body.events.length), [1, 10, 5, 5]);
  const retried = split.requests.slice(2).flatMap((r) => r.body.events.map((e) => e.event_id));
  assert.deepEqual(retried, split.requests[1].body.events.map((e) => e.event_id));
});

test('the offline queue survives the page and is resent once the next page loads', async () => {
  const storage = new Map();
  const offline = new Page({ storage, statuses: [0] });
  offline.footfall('event', 'sign_up', { method: 'email' });
  await offline.tick(1000);
  const lost = offline.events().map((e) => e.event_id);
  assert.equal(lost.length, 2);
  offline.nav.onLine = false;
  offline.footfall('event', 'late');
  offline.hide(); // offline: no beacon, the events stay in storage
  assert.equal(offline.requests.length, 1);

  const next = new Page({ storage, now: T0 + 60_000 });
  await next.tick(1000);
  const resent = next.requests.flatMap((r) => r.body.events);
  assert.deepEqual(
    resent.map((e) => e.name).sort(),
    ['late', 'page_view', 'page_view', 'sign_up', 'user_engagement'],
  );
  for (const id of lost) assert.ok(resent.some((e) => e.event_id == id), 'same event ids');
  const old = resent.filter((e) => e.timestamp_micros);
  assert.equal(old.length, 4, 'the stored events carry their creation time');
  assert.equal(next.storage.get('ff_q'), '[]');
});

test('the offline queue is bounded', async () => {
  const page = new Page({ statuses: Array(100).fill(0) });
  for (let i = 0; i < 300; i++) page.footfall('event', 'tap', { i });
  await page.tick(5000);
  assert.ok(JSON.parse(page.storage.get('ff_q')).length <= 200);
  const last = JSON.parse(page.storage.get('ff_q')).at(-1);
  assert.equal(last.params.i, 299, 'the oldest are dropped first');
});

test('page hide: visible time as user_engagement, everything pending by beacon', async () => {
  const page = new Page();
  await page.tick(1000); // the page view goes by fetch
  await page.tick(4000);
  page.footfall('event', 'sign_up');
  page.hide();
  const beacons = page.requests.filter((r) => r.via == 'beacon');
  assert.equal(beacons.length, 1);
  assert.deepEqual(beacons[0].body.events.map((e) => e.name), ['sign_up', 'user_engagement']);
  assert.equal(beacons[0].body.events[1].params.engagement_time_msec, 5000);
  await page.tick(10_000); // hidden time is not engagement
  page.show();
  await page.tick(2000);
  page.win.fire('pagehide');
  const last = page.requests.at(-1);
  assert.equal(last.via, 'beacon');
  assert.equal(last.body.events[0].params.engagement_time_msec, 2000);
  await page.tick(60_000);
  assert.equal(page.events().length, 4, 'nothing is sent twice');
});

test('cookieless: no client id, no session, nothing stored', async () => {
  const page = new Page({ attrs: { cookieless: '' }, statuses: [503] });
  page.footfall('consent', 'granted'); // the site chose cookieless: consent does not change it
  page.footfall('event', 'sign_up');
  await page.tick(5000);
  assert.equal(page.requests.length, 2);
  for (const r of page.requests) assert.equal(r.body.client_id, undefined);
  for (const e of page.events()) assert.equal(e.params.session_id, undefined);
  assert.equal(page.storage.size, 0);
});

test('consent: denied clears storage and sends no identifier; granted identifies again', async () => {
  const storage = new Map();
  const page = new Page({ storage, attrs: { consent: 'denied' } });
  await page.tick(1000);
  assert.equal(page.requests[0].body.client_id, undefined);
  assert.equal(storage.size, 0);
  page.footfall('consent', 'granted');
  page.footfall('event', 'sign_up');
  await page.tick(1000);
  assert.match(page.requests[1].body.client_id, /^\d+\.\d+$/);
  assert.ok(storage.has('ff_id'));
  page.footfall('event', 'after');
  page.footfall('consent', 'denied'); // before the batch left
  await page.tick(1000);
  assert.equal(page.requests[2].body.client_id, undefined);
  assert.equal(page.requests[2].body.events[0].params.session_id, undefined);
  assert.equal(storage.size, 0);
});

test('Do-Not-Track and Global Privacy Control stop everything with data-respect-dnt', async () => {
  for (const nav of [{ doNotTrack: '1' }, { globalPrivacyControl: true }]) {
    const page = new Page({ attrs: { 'respect-dnt': '' }, nav });
    page.footfall('event', 'sign_up');
    page.hide();
    await page.tick(5000);
    assert.equal(page.requests.length, 0);
    assert.equal(page.storage.size, 0);
    const ignored = new Page({ nav });
    await ignored.tick(1000);
    assert.equal(ignored.requests.length, 1, 'without the attribute the signals are not read');
  }
});

test('local pages are ignored unless allowed', async () => {
  for (const url of ['http://localhost:3000/', 'http://127.0.0.1:8080/x', 'file:///home/me/site.html']) {
    const page = new Page({ url });
    page.footfall('event', 'sign_up');
    await page.tick(5000);
    assert.equal(page.requests.length, 0, url);
    const allowed = new Page({ url, attrs: { 'allow-localhost': '' } });
    await allowed.tick(1000);
    assert.equal(allowed.requests.length, 1, url);
  }
  const missing = new Page({ attrs: { 'measurement-id': null } });
  missing.footfall('event', 'x');
  await missing.tick(5000);
  assert.equal(missing.requests.length, 0);
});

test('values are cut to the collector limits, at most 25 params', async () => {
  const page = new Page({ url: 'https://shop.example.com/' + 'p'.repeat(1200), title: 't'.repeat(400) });
  const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => ['p' + i, 'v'.repeat(150)]));
  page.footfall('event', 'big', many);
  await page.tick(1000);
  const [view, big] = page.events().map((e) => e.params);
  assert.equal(view.page_location.length, 1000);
  assert.equal(view.page_title.length, 300);
  assert.equal(Object.keys(big).length, 25);
  assert.equal(big.p0.length, 100);
});

test('a session ends after 30 minutes without events', async () => {
  const storage = new Map();
  const page = new Page({ storage });
  await page.tick(29 * 60_000);
  page.footfall('event', 'still');
  await page.tick(31 * 60_000);
  page.footfall('event', 'again');
  await page.tick(1000);
  const sessions = page.events().map((e) => [e.name, e.params.session_id, e.params.session_number]);
  assert.deepEqual(sessions, [
    ['page_view', T0 / 1000, 1],
    ['still', T0 / 1000, 1],
    ['again', T0 / 1000 + 60 * 60, 2],
  ]);
  const next = new Page({ storage, now: page.now + 1000 });
  await next.tick(1000);
  assert.equal(next.events()[0].params.session_number, 2, 'the session goes on in a new page');
  assert.equal(next.requests[0].body.client_id, page.requests[0].body.client_id);
});

test('the enhanced build: 90% scroll once per page', async () => {
  const page = new Page({ build: 'enhanced' });
  page.win.scrollY = 1000;
  page.win.fire('scroll'); // 1800 of 3000
  page.win.scrollY = 1900;
  page.win.fire('scroll'); // 2700: 90%
  page.win.fire('scroll');
  page.navigate('/next');
  page.win.fire('scroll');
  await page.tick(1000);
  assert.deepEqual(page.names().filter((n) => n == 'scroll').length, 2);
  assert.deepEqual(params(page, 'scroll')[0].percent_scrolled, 90);
  const plain = new Page();
  plain.win.scrollY = 2500;
  plain.win.fire('scroll');
  await plain.tick(1000);
  assert.deepEqual(plain.names(), ['page_view'], 'the default build has no scroll tracking');
});

const link = (href, text = 'a link') => {
  const u = new URL(href, 'https://shop.example.com/products');
  const a = { href: u.href, protocol: u.protocol, hostname: u.hostname, pathname: u.pathname, textContent: ` ${text} ` };
  return { target: { closest: () => a } };
};

test('the enhanced build: outbound clicks and file downloads', async () => {
  const page = new Page({ build: 'enhanced' });
  page.doc.fire('click', link('https://partner.example.org/offer?x=1'));
  page.doc.fire('click', link('/about'));
  page.doc.fire('click', link('mailto:me@example.com'));
  page.doc.fire('click', link('/files/Report.PDF', 'The report'));
  page.doc.fire('auxclick', { ...link('https://other.example/'), button: 1 });
  page.doc.fire('auxclick', { ...link('https://right.example/'), button: 2 });
  await page.tick(1000);
  assert.deepEqual(page.names(), ['page_view', 'click', 'file_download', 'click']);
  assert.deepEqual(params(page, 'click')[0], {
    ...params(page, 'click')[0],
    link_domain: 'partner.example.org',
    link_url: 'https://partner.example.org/offer?x=1',
    outbound: true,
  });
  const [download] = params(page, 'file_download');
  assert.equal(download.file_extension, 'pdf');
  assert.equal(download.file_name, '/files/Report.PDF');
  assert.equal(download.link_text, 'The report');

  const custom = new Page({ build: 'enhanced', attrs: { downloads: 'dmg,epub' } });
  custom.doc.fire('click', link('/files/app.dmg'));
  custom.doc.fire('click', link('/files/report.pdf'));
  await custom.tick(1000);
  assert.deepEqual(custom.names(), ['page_view', 'file_download']);

  const plain = new Page();
  plain.doc.fire('click', link('https://partner.example.org/'));
  await plain.tick(1000);
  assert.deepEqual(plain.names(), ['page_view'], 'the default build has no click tracking');
});
