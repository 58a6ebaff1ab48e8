// Drives Debian's headless Chromium (playwright-core, no downloaded browser) through one
// scenario on the test site, then prints what the pages sent and stored as JSON.
//   node drive.mjs '{"scenario": "spa", "site": "http://127.0.0.1:PORT"}'
// tests/test_tracker_browser.py starts footfall serve and the site, runs this, and checks the
// exact counts in runReport.
import { chromium } from 'playwright-core';

const { scenario, site } = JSON.parse(process.argv[2]);
// the processor drops HeadlessChrome as a bot: the pages say they are a desktop Chrome
const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const browser = await chromium.launch({
  executablePath: process.env.FOOTFALL_CHROMIUM || '/usr/bin/chromium',
  // the flag too: a beacon sent while the page navigates away is past the per-page override
  args: ['--no-sandbox', `--user-agent=${CHROME}`],
});
const sent = []; // every collect request that reached the server: {via, client_id, events}
const failed = []; // and those that did not
const context = await browser.newContext({ userAgent: CHROME, acceptDownloads: true });
context.on('requestfinished', (r) => record(r, sent));
context.on('requestfailed', (r) => record(r, failed));
function record(request, into) {
  if (!request.url().includes('/v1/collect')) return;
  const body = JSON.parse(request.postData());
  into.push({
    via: request.resourceType(),
    client_id: body.client_id ?? null,
    events: body.events.map((e) => e.name),
  });
}

const open = async (path = '/') => {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(site + path);
  await page.waitForFunction(() => window.footfall && !window.footfall.q);
  return page;
};
const route = async (page, id) => {
  await page.click('#' + id);
  await pause(150); // time on a page: its user_engagement is never 0 ms
};
const close = async (page) => {
  await page.close({ runBeforeUnload: true });
  await pause(500);
};
// until every event so far has left the page (the batch delay is a second)
const drained = async (count) => {
  for (let i = 0; i < 100 && sent.flatMap((r) => r.events).length < count; i++) await pause(100);
};

const scenarios = {
  // page views of a single-page app, a custom event, scroll depth, engagement on page hide
  async spa() {
    const page = await open();
    await pause(150);
    await route(page, 'pricing');
    await route(page, 'about');
    await page.goBack(); // popstate: /pricing again
    await pause(150);
    await page.click('#signup');
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await pause(150);
    await close(page);
  },
  // an outbound link that leaves the page, and a file download
  async links() {
    const page = await open();
    const download = page.waitForEvent('download');
    await page.click('#download');
    await (await download).cancel();
    await pause(150);
    await Promise.all([page.waitForURL('**/away.html'), page.click('#outbound')]);
    await pause(500);
    await close(page);
  },
  // a tab closed before its batch was sent: the page-hide beacon carries it
  async closed() {
    const page = await open();
    await drained(1);
    await page.click('#signup');
    await close(page);
  },
  // the network cut, then restored, while the page is open; then cut again, the tab closed
  // offline, and the site opened again online: the stored events go with the next page
  async offline() {
    const page = await open();
    await drained(1);
    await context.setOffline(true);
    await route(page, 'pricing');
    await page.click('#signup');
    await pause(2500); // sends fail and are retried
    await context.setOffline(false);
    await drained(4);
    await context.setOffline(true);
    await route(page, 'about');
    await close(page);
    await context.setOffline(false);
    const again = await open('/');
    await drained(9);
    await pause(1500);
    await close(again);
  },
  // cookieless: two pages, nothing stored, no client_id
  async cookieless() {
    for (const path of ['/', '/pricing']) {
      const page = await open(path);
      await drained(sent.flatMap((r) => r.events).length + 1);
      scenarios.stored = await page.evaluate(() => Object.keys(localStorage));
      await close(page);
    }
  },
  // consent denied at first, then granted
  async consent() {
    const page = await open();
    await drained(1);
    scenarios.stored = await page.evaluate(() => Object.keys(localStorage));
    await page.evaluate(() => footfall('consent', 'granted'));
    await page.click('#signup');
    await drained(2);
    await close(page);
  },
  // pages that must send nothing: a local page without data-allow-localhost, or Global
  // Privacy Control with data-respect-dnt
  async silent() {
    await context.addInitScript(() =>
      Object.defineProperty(navigator, 'globalPrivacyControl', { get: () => true }),
    );
    const page = await open();
    await page.click('#signup');
    await pause(1500);
    await close(page);
  },
};

try {
  await scenarios[scenario]();
} finally {
  await browser.close();
}
console.log(JSON.stringify({ sent, failed, stored: scenarios.stored ?? null }));
