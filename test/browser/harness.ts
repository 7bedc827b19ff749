// The browser suite's fixtures: the built page on a local static server, and Debian's Chromium driven
// headless through playwright-core (no browser download), with a fresh profile per launch.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sirv from 'sirv';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** Serve a folder on 127.0.0.1 on a free port, as any static host would (no server logic). */
export async function serveFolder(folder: string): Promise<StaticServer> {
  if (!existsSync(join(folder, 'index.html'))) throw new Error(`${folder}/index.html is missing: run 'npm run build:web' first`);
  const handler = sirv(folder, { dev: false, etag: true });
  const server: Server = createServer((req, res) => handler(req, res, () => {
    res.statusCode = 404;
    res.end('not found');
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught errors of every page opened so far (and their workers), as text. */
  problems: string[];
  /** Another tab in the same browser, watched like the first. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Launch Chromium with a fresh user-data dir and open one page that records every console error. */
export async function launchChromium(viewport = { width: 1366, height: 768 }, extraArgs: readonly string[] = []): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium)`);
  const profile = await mkdtemp(join(tmpdir(), 'lastmile-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], viewport, acceptDownloads: true,
  });
  const problems: string[] = [];
  const record = (where: string) => (m: ConsoleMessage) => {
    if (m.type() === 'error') problems.push(`console.error in the ${where}: ${m.text()}`);
  };
  const watch = (page: Page): Page => {
    page.on('console', record('page'));
    page.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
    // The training worker's console is its own; a message may be reported by both, which is harmless.
    page.on('worker', (w) => w.on('console', record('worker')));
    return page;
  };
  const page = watch(context.pages()[0] ?? (await context.newPage()));
  return {
    context, page, problems,
    newPage: async () => watch(await context.newPage()),
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
