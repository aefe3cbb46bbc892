import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

// What the web app's end-to-end tests need around the launched system: a production build of the
// app, Debian's Chromium driven by playwright-core, signing in through the identity provider's own
// login form, screenshots for the README, and axe-core's accessibility audit.

const WEB_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Where screenshots go: web/test/screenshots (not tracked) unless AGORA_SCREENSHOTS_DIR says (`pnpm web:screenshots` refreshes docs/screenshots). */
export const SCREENSHOTS_DIR = process.env['AGORA_SCREENSHOTS_DIR'] ?? fileURLToPath(new URL('screenshots', import.meta.url));

/** Builds the app as `npm start` does (Vite's command, in production mode), into a folder of its own. */
export async function buildWebApp(): Promise<{ root: string; remove: () => void }> {
  const root = mkdtempSync(join(tmpdir(), 'agora-web-'));
  // A process of its own: Vitest's NODE_ENV=test would otherwise make a development build.
  await promisify(execFile)(join(WEB_DIR, 'node_modules', '.bin', 'vite'), ['build', '--outDir', root, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: WEB_DIR,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Flags for this closed network: without the background-networking ones Chromium keeps trying to
 * reach Google's hosts. --no-sandbox because the tests run as root in CI.
 */
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  // The README's test command sets CHROMIUM_PATH (scripts/bootstrap.mjs installs Debian's chromium when missing).
  const executablePath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS });
}

export type User = 'alice' | 'bob' | 'admin';

/** Signs in through the provider's login page (authorization code with PKCE) and comes back to the shop. */
export async function signIn(context: BrowserContext, shopUrl: string, user: User): Promise<Page> {
  const page = await context.newPage();
  await page.goto(shopUrl);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('Username or email').fill(user);
  await page.getByLabel('Password').fill(`${user}-dev-password`);
  await page.getByRole('button', { name: 'Sign In', exact: true }).click();
  await page.getByText(`Signed in as ${user}`).waitFor();
  return page;
}

/** The signed-in user as oidc-client-ts keeps it in the tab's sessionStorage. */
export interface StoredUser {
  key: string;
  user: { access_token: string; expires_at: number } & Record<string, unknown>;
}

interface PageStorage {
  sessionStorage: Record<string, string> & { getItem(key: string): string | null; setItem(key: string, value: string): void };
}

export async function storedUser(page: Page): Promise<StoredUser> {
  return page.evaluate(() => {
    const { sessionStorage } = globalThis as unknown as PageStorage;
    const key = Object.keys(sessionStorage).find((name) => name.startsWith('oidc.user:')) ?? '';
    return { key, user: JSON.parse(sessionStorage.getItem(key) ?? '{}') as StoredUser['user'] };
  });
}

export async function storeUser(page: Page, stored: StoredUser): Promise<void> {
  await page.evaluate(({ key, user }) => (globalThis as unknown as PageStorage).sessionStorage.setItem(key, JSON.stringify(user)), stored);
}

interface PageDocument {
  document: EventTarget;
}

/** Makes the page believe its tab was sent to the background (or shown again), as the browser tells it: document.hidden and a visibilitychange event. */
export async function setTabHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate((value) => {
    const { document } = globalThis as unknown as PageDocument;
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => value });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (value ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

// Evaluated through the DevTools protocol rather than added as a <script>, which the pages' content security policy refuses.
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's WCAG 2.1 A/AA rules on the page as it is; the serious and critical findings. */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as { axe: { run(context: unknown, options: object): Promise<{ violations: AxeViolation[] }> }; document: unknown };
    return (await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })).violations;
  });
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => JSON.stringify(node.target)).join(', ')})`);
}
