// Headless Chromium for the HTML-report tests: Debian's chromium-headless-shell (apt-get install
// chromium-headless-shell; INTNPU_CHROMIUM overrides the path) driven by the pinned playwright-core. A missing
// browser is an error, never a skip: the reports are only tested if a real browser renders them.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env['INTNPU_CHROMIUM'] ?? '/usr/bin/chromium-headless-shell';

/** A browser with a fresh profile (playwright passes the --user-data-dir), offline, 1360x900. */
export async function launch(): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no headless Chromium at ${CHROMIUM}: install it (apt-get install chromium-headless-shell) or set INTNPU_CHROMIUM`);
  }
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'intnpu-chromium-')), {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    offline: true,
    viewport: { width: 1360, height: 900 },
  });
}

export interface PageCheck {
  /** console errors, page errors and any request that is not the file itself */
  readonly problems: string[];
  /** per chart (figure id): the number of drawn marks */
  readonly marks: Record<string, number>;
  readonly title: string;
  /** the timeline's visible range before and after one click on its "zoom in" button, and its marks then */
  readonly zoom: { readonly before: string; readonly after: string; readonly marks: number } | null;
}

/** Opens an HTML file offline and counts the drawn marks of every chart; optionally saves a screenshot. */
export async function checkPage(ctx: BrowserContext, file: string, screenshot?: string): Promise<PageCheck> {
  const page = await ctx.newPage();
  const problems: string[] = [];
  const url = pathToFileURL(file).href;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (r.url() !== url) problems.push(`request: ${r.url()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  // a string, so the type check needs no DOM library: runs in the page
  const marks = (await page.evaluate(`(() => {
    const out = {};
    document.querySelectorAll('figure.chart').forEach((f, i) => (out[f.id || 'chart' + i] = f.querySelectorAll('svg .mark').length));
    return out;
  })()`)) as Record<string, number>;
  const title = await page.title();
  let zoom: PageCheck['zoom'] = null;
  if ((await page.locator('figure.timeline').count()) > 0) {
    const range = (): Promise<string> => page.evaluate(`(() => { const m = /showing ([\\d,]+) to ([\\d,]+)/.exec(document.querySelector('figure.timeline svg').textContent); return m ? m[1] + '-' + m[2] : ''; })()`) as Promise<string>;
    const before = await range();
    await page.click('figure.timeline button[data-zoom="0.5"]');
    const after = await range();
    const marks = (await page.evaluate(`document.querySelectorAll('figure.timeline svg .mark').length`)) as number;
    zoom = { before, after, marks };
  }
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return { problems, marks, title, zoom };
}
