// footfall's web tracker. One script tag:
//   <script defer src="https://HOST/footfall.js" data-measurement-id="G-..."></script>
// Options are data- attributes of that tag; see docs/tracker.md. Calls made before the script
// loads go to a queue: window.footfall = window.footfall || function () {
//   (footfall.q = footfall.q || []).push(arguments) }
//
// Built by build.mjs with terser. ENHANCED is a build feature (terser's global_defs): GA4's
// enhanced measurement (scroll depth, outbound clicks, file downloads), kept only in
// footfall.enhanced.js; the default build loses that code entirely.
/* global ENHANCED */
((w, d, nav) => {
  const script = d.currentScript;
  const attr = (name) => script.getAttribute('data-' + name);
  const has = (name) => attr(name) != null;
  const loc = w.location;
  const now = Date.now;
  const measurementId = attr('measurement-id');
  const api =
    (attr('api') || new URL(script.src).origin + '/v1/collect') +
    '?measurement_id=' +
    encodeURIComponent(measurementId);
  const earlier = (w.footfall || {}).q || [];
  const MAX_BATCH = 25; // the collector's max_events_per_request
  const MAX_QUEUE = 200; // events kept for resending, oldest dropped first
  const MAX_AGE = 2592e5; // 72 h in ms: the collector refuses older events
  const SESSION = 18e5; // 30 min of inactivity ends a session
  // Nothing is sent at all: no measurement id; a local page (unless allowed); Do-Not-Track or
  // Global Privacy Control with data-respect-dnt.
  const off =
    !measurementId ||
    (!has('allow-localhost') &&
      (/^(localhost|127\.|\[::1\]$)/.test(loc.hostname) || loc.protocol == 'file:')) ||
    (has('respect-dnt') && (nav.doNotTrack == '1' || !!nav.globalPrivacyControl));
  const cookieless = has('cookieless');
  const hashRouting = has('hash');
  // consent to storage and identifiers: cookieless never stores, data-consent="denied" waits
  let stored = !cookieless && attr('consent') != 'denied';

  const storage = (fn) => {
    try {
      return fn(w.localStorage);
    } catch (e) {} // storage blocked (private mode, sandbox): behave as cookieless
  };
  const get = (key) => stored && storage((s) => s.getItem('ff_' + key));
  const put = (key, value) => stored && storage((s) => s.setItem('ff_' + key, value));
  const random = () => crypto.getRandomValues(new Uint32Array(1))[0];

  // Delivery: one queue of events, each {name, event_id, params, t: created (ms), c: client id
  // or '', n: failed sends, f: in flight}. A batch is the first events of one client id.
  let queue = [];
  let timer = 0;
  let busy = 0;
  let failures = 0;
  let limit = MAX_BATCH;
  const save = () => put('q', JSON.stringify(queue.slice(-MAX_QUEUE)));
  const body = (batch) =>
    JSON.stringify({
      client_id: batch[0].c || undefined,
      events: batch.map((e) => ({
        name: e.name,
        event_id: e.event_id,
        params: e.params,
        // a resent event carries its creation time; one sent at once lets the server stamp it
        timestamp_micros: e.n ? e.t * 1e3 : undefined,
      })),
    });
  const take = (size) => {
    const t = now();
    queue = queue.filter((e) => t - e.t < MAX_AGE).slice(-MAX_QUEUE);
    const first = queue.find((e) => !e.f);
    return first ? queue.filter((e) => !e.f && e.c == first.c).slice(0, size) : [];
  };
  const drop = (batch) => {
    queue = queue.filter((e) => batch.indexOf(e) < 0);
    save();
  };
  const schedule = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  };
  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (busy) return;
    const batch = take(limit);
    if (!batch.length) return;
    busy = 1;
    batch.forEach((e) => (e.f = 1));
    const done = (status) => {
      busy = 0;
      batch.forEach((e) => (e.f = 0));
      if (status == 413 && batch.length > 1) {
        limit = batch.length >> 1; // too big: split
      } else if (!status || status == 408 || status == 429 || status >= 500) {
        batch.forEach((e) => e.n++);
        save();
        return schedule(Math.min(6e4, 1e3 << failures++)); // 1 s, 2 s, 4 s, ... 1 min
      } else {
        failures = 0;
        drop(batch); // durable (2xx), or refused for good (other 4xx)
      }
      flush();
    };
    fetch(api, { method: 'POST', body: body(batch), keepalive: true }).then(
      (r) => done(r.status),
      () => done(0),
    );
  };
  // page hidden or closing: every event not in flight goes by beacon; whatever is left is kept
  const hide = () => {
    engaged(1);
    for (let batch; (batch = take(MAX_BATCH)).length; ) {
      if (!(nav.onLine && nav.sendBeacon && nav.sendBeacon(api, body(batch)))) break;
      drop(batch);
    }
    save();
    if (queue.length) schedule(1e3); // the page may come back
  };

  // Identity and session, only while storage is allowed
  const clientId = () => {
    let id = get('id');
    if (!id) put('id', (id = (random() >>> 1) + '.' + ((now() / 1e3) | 0)));
    return id;
  };
  const session = (t) => {
    let s = (get('s') || '').split('.').map(Number);
    if (!(t - s[2] < SESSION)) s = [(t / 1e3) | 0, (s[1] || 0) + 1];
    s[2] = t;
    put('s', s.join('.'));
    return s;
  };

  // Pages
  let page = '';
  let title = '';
  let referrer = d.referrer;
  let scrolled = 0;
  const url = () => {
    if (!hashRouting) return loc.href.split('#')[0];
    // the route in the fragment becomes the path, so reports show it as pagePath
    const route = loc.hash.replace(/^#!?/, '').split('?')[0];
    return route[0] == '/'
      ? loc.origin + loc.pathname.replace(/\/$/, '') + route + loc.search
      : loc.href.split('#')[0];
  };

  const event = (name, params) => {
    if (off) return;
    const t = now();
    const p = {
      page_location: page || url(),
      page_title: title || d.title,
      language: nav.language,
      screen_resolution: screen.width + 'x' + screen.height,
    };
    if (stored) {
      const s = session(t);
      p.session_id = s[0];
      p.session_number = s[1];
    }
    Object.assign(p, params);
    const limits = { page_location: 1e3, page_referrer: 420, page_title: 300 };
    Object.keys(p).forEach((k, i) => {
      const v = p[k];
      if (i >= 25 || v == null || v === '') delete p[k]; // the collector's max params per event
      else if (typeof v == 'string') p[k] = v.slice(0, limits[k] || 100);
    });
    queue.push({
      name,
      event_id: t.toString(36) + '.' + random().toString(36) + random().toString(36),
      params: p,
      t,
      c: stored ? clientId() : '',
      n: 0,
    });
    if (queue.length > MAX_QUEUE) queue.shift();
    take(MAX_BATCH).length >= MAX_BATCH ? flush() : timer || schedule(1e3);
  };

  // Engagement: visible time since the last user_engagement, sent on page hide and before the
  // next page of a single-page app
  let visibleSince = 0;
  let engagedMs = 0;
  const engaged = (hiding) => {
    const t = now();
    if (visibleSince) engagedMs += t - visibleSince;
    visibleSince = hiding ? 0 : t;
    if (engagedMs > 0) event('user_engagement', { engagement_time_msec: engagedMs });
    engagedMs = 0;
  };

  const pageview = () => {
    const next = url();
    if (next == page) return; // replaceState with the same URL, a hash change without routing
    if (page) {
      engaged();
      referrer = page;
    }
    page = next;
    title = d.title;
    scrolled = 0;
    event('page_view', { page_referrer: referrer });
  };

  const command = (name, a, b) => {
    if (name == 'event') event(a, b);
    else if (name == 'consent') {
      stored = !cookieless && a == 'granted';
      if (!stored) {
        storage((s) => ['id', 's', 'q'].forEach((k) => s.removeItem('ff_' + k)));
        queue.forEach((e) => {
          e.c = '';
          delete e.params.session_id;
          delete e.params.session_number;
        });
      }
    }
  };
  w.footfall = function () {
    command.apply(0, arguments);
  };
  if (off) return;

  // events a closed page could not send, with their event ids, so the server counts them once
  queue = (stored && JSON.parse(get('q') || '[]')) || [];
  queue.forEach((e) => {
    e.f = 0;
    e.n = e.n || 1;
  });

  const listen = (target, type, fn) => target.addEventListener(type, fn, true);
  earlier.filter((c) => c[0] == 'consent').forEach((c) => command.apply(0, c));
  visibleSince = d.visibilityState == 'visible' ? now() : 0;
  pageview();
  earlier.filter((c) => c[0] != 'consent').forEach((c) => command.apply(0, c));

  const history = w.history;
  ['pushState', 'replaceState'].forEach((m) => {
    const original = history[m];
    history[m] = function () {
      original.apply(this, arguments);
      pageview();
    };
  });
  listen(w, 'popstate', pageview);
  if (hashRouting) listen(w, 'hashchange', pageview);
  listen(d, 'visibilitychange', () => {
    if (d.visibilityState == 'hidden') hide();
    else visibleSince = now();
  });
  listen(w, 'pagehide', hide);
  listen(w, 'online', flush);
  if (queue.length) schedule(1e3);

  if (ENHANCED)
    listen(w, 'scroll', () => {
      const root = d.documentElement;
      if (!scrolled && w.scrollY + w.innerHeight >= 0.9 * root.scrollHeight) {
        scrolled = 1;
        event('scroll', { percent_scrolled: 90 });
      }
    });

  if (ENHANCED) {
    const extensions =
      (attr('downloads') || '').replace(/[^\w,]/g, '').replace(/,/g, '|') ||
      'pdf|xlsx?|docx?|txt|rtf|csv|exe|key|pp[st]x?|7z|pkg|rar|gz|zip|avi|mov|mp4|mpe?g|wmv|midi?|mp3|wav|wma';
    const downloads = new RegExp('\\.(' + extensions + ')$', 'i');
    const click = (e) => {
      const link = e.target.closest && e.target.closest('a[href]');
      if (!link || !link.protocol || (e.type == 'auxclick' && e.button != 1)) return;
      const file = link.pathname.match(downloads);
      if (file)
        event('file_download', {
          file_extension: file[1].toLowerCase(),
          file_name: link.pathname,
          link_text: link.textContent.trim(),
          link_url: link.href,
        });
      else if (/^https?:$/.test(link.protocol) && link.hostname != loc.hostname)
        event('click', { link_domain: link.hostname, link_url: link.href, outbound: true });
    };
    listen(d, 'click', click);
    listen(d, 'auxclick', click);
  }
})(window, document, navigator);
