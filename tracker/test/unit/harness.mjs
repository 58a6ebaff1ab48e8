// Runs a built tracker (what footfall serves) in a vm context with a small fake browser: a
// page, localStorage, a clock and timers the test moves, fetch and sendBeacon that record what
// they are given and answer with the statuses the test chooses.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', '..', '..', 'src', 'footfall', 'api', 'dist');
export const builds = {
  default: readFileSync(join(dist, 'footfall.js'), 'utf8'),
  enhanced: readFileSync(join(dist, 'footfall.enhanced.js'), 'utf8'),
};
export const T0 = Date.UTC(2026, 4, 20, 10, 0, 0); // the clock the page starts at

class Listeners {
  constructor() {
    this.on = {};
  }
  addEventListener(type, fn) {
    (this.on[type] ||= []).push(fn);
  }
  fire(type, event = {}) {
    for (const fn of this.on[type] || []) fn({ type, ...event });
  }
}

export class Page {
  // attrs: the script tag's data- attributes; storage: a Map shared between page loads;
  // statuses: answers of the collector, one per request (a number, or 0 for a network error);
  // queue: calls made before the script loaded
  constructor({
    url = 'https://shop.example.com/products?utm_source=news#top',
    attrs = {},
    storage = new Map(),
    statuses = [],
    queue = [],
    now = T0,
    build = 'default',
    nav = {},
    referrer = 'https://search.example/',
    title = 'Products',
  } = {}) {
    this.now = now;
    this.timers = [];
    this.requests = []; // {url, body, via: 'fetch' | 'beacon'}
    this.statuses = statuses;
    this.storage = storage;
    const page = this;
    const location = new URL(url);
    const doc = new Listeners();
    doc.title = title;
    doc.referrer = referrer;
    doc.visibilityState = 'visible';
    doc.documentElement = { scrollHeight: 3000 };
    const script = { src: 'https://ff.example.net/footfall.js' };
    const allAttrs = { 'measurement-id': 'G-TEST123', ...attrs };
    script.getAttribute = (name) => {
      const key = name.replace(/^data-/, '');
      return key in allAttrs ? allAttrs[key] : null;
    };
    doc.currentScript = script;
    const win = new Listeners();
    const setUrl = (u) => {
      const next = new URL(u, location.href);
      for (const k of ['href']) location[k] = next[k];
    };
    win.location = location;
    win.history = {
      pushState(_s, _t, u) {
        setUrl(u);
      },
      replaceState(_s, _t, u) {
        setUrl(u);
      },
    };
    win.localStorage = {
      getItem: (k) => (storage.has(k) ? storage.get(k) : null),
      setItem: (k, v) => storage.set(k, String(v)),
      removeItem: (k) => storage.delete(k),
    };
    win.scrollY = 0;
    win.innerHeight = 800;
    if (queue.length) {
      win.footfall = function () {
        (win.footfall.q = win.footfall.q || []).push(arguments);
      };
      for (const call of queue) win.footfall(...call);
    }
    const navigator = {
      language: 'en-GB',
      onLine: true,
      sendBeacon(u, body) {
        page.requests.push({ url: u, body: JSON.parse(body), via: 'beacon' });
        return true;
      },
      ...nav,
    };
    const fetch = (u, init) => {
      page.requests.push({ url: u, body: JSON.parse(init.body), via: 'fetch', init });
      const status = page.statuses.length ? page.statuses.shift() : 200;
      return status ? Promise.resolve({ status }) : Promise.reject(new TypeError('offline'));
    };
    const context = {
      window: win,
      document: doc,
      navigator,
      screen: { width: 1920, height: 1080 },
      crypto: webcrypto,
      fetch,
      URL,
      setTimeout: (fn, ms) => {
        page.timers.push({ at: page.now + ms, fn });
        return page.timers.length;
      },
      clearTimeout: (id) => {
        if (id) page.timers[id - 1].fn = null;
      },
    };
    this.win = win;
    this.doc = doc;
    this.nav = navigator;
    vm.createContext(context);
    vm.runInContext(`Date.now = () => ${'__now'}()`, Object.assign(context, { __now: () => page.now }));
    vm.runInContext(builds[build], context);
  }

  footfall(...args) {
    this.win.footfall(...args);
  }

  // move the clock, running the timers that come due, and let answered requests settle
  async tick(ms) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const due = this.timers
        .filter((t) => t.fn && t.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.now = Math.max(this.now, due.at);
      const fn = due.fn;
      due.fn = null;
      fn();
    }
    this.now = end;
    await settle();
  }

  navigate(url) {
    this.win.history.pushState({}, '', url);
  }

  hide() {
    this.doc.visibilityState = 'hidden';
    this.doc.fire('visibilitychange');
  }

  show() {
    this.doc.visibilityState = 'visible';
    this.doc.fire('visibilitychange');
  }

  // every event sent, in order, with the request's client_id
  events() {
    return this.requests.flatMap((r) =>
      r.body.events.map((e) => ({ ...e, client_id: r.body.client_id, via: r.via })),
    );
  }

  names() {
    return this.events().map((e) => e.name);
  }
}

export const settle = () => new Promise((resolve) => setImmediate(resolve));
