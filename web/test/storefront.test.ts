import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSagaSystem, type SagaSystem } from '../../gateway/test/saga-support.ts';
import { accessibilityProblems, buildWebApp, launchChromium, screenshot, setTabHidden, signIn, storedUser, storeUser, type StoredUser, type User } from './browser.ts';

// The storefront and the operations console in Debian's Chromium, against the whole system as
// `npm start` runs it (real tokens from the provider's login form, real sagas). What the pages show
// is checked against what the services recorded.

const WEBCAM = '7c0a1000-0000-4000-8000-000000000005';
const LAMP = '7c0a1000-0000-4000-8000-000000000009';
const PEN = '7c0a1000-0000-4000-8000-000000000011';
const STANDING_DESK = '7c0a1000-0000-4000-8000-000000000008';
const CABLE = '7c0a1000-0000-4000-8000-000000000014';
const ANONYMOUS_LIMIT = 150;

let agora: SagaSystem;
let web: Awaited<ReturnType<typeof buildWebApp>>;
let browser: Browser;
let shopUrl: string;
const contexts: BrowserContext[] = [];
/** Uncaught exceptions in pages and content-security-policy refusals: none may happen. */
const pageFaults: string[] = [];

beforeAll(async () => {
  web = await buildWebApp();
  agora = await startSagaSystem({
    WEB_ROOT: web.root,
    SIMULATED_PROVIDER_CONFIRMATION: 'manual',
    SAGA_STEP_TIMEOUT_SECONDS: '5',
    PAYMENT_CONFIRMATION_TIMEOUT_SECONDS: '8',
    RATE_LIMIT_ANONYMOUS_MAX: String(ANONYMOUS_LIMIT),
  });
  browser = await launchChromium();
  shopUrl = new URL('/shop/', agora.system.gatewayUrl).href;
}, 120_000);

// Pages poll while open: each test closes what it opened, so that none loads the system for the next.
afterEach(async () => {
  await Promise.allSettled(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
  await agora?.stop();
  web?.remove();
});

async function newContext(options: { viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC' });
  context.setDefaultTimeout(20_000);
  // The page's own errors end up in the test's output, where a failure is diagnosed.
  context.on('console', (message) => {
    if (message.type() !== 'error') return;
    process.stderr.write(`[browser] ${message.text()}\n`);
    if (message.text().includes('Content Security Policy')) pageFaults.push(message.text());
  });
  context.on('response', (response) => {
    if (response.status() >= 400 && response.url().includes('/graphql')) {
      void response.text().then((body) => process.stderr.write(`[browser] ${response.status()} ${response.url()}: ${body.slice(0, 300)}\n`), () => undefined);
    }
  });
  context.on('weberror', (error) => {
    process.stderr.write(`[browser] ${error.error().message}\n`);
    pageFaults.push(error.error().message);
  });
  contexts.push(context);
  return context;
}

const session = async (user: User) => signIn(await newContext(), shopUrl, user);

/** A signed-in tab on the orders page, with the session's tokens stored as the app keeps them. */
async function ordersPage(user: User): Promise<{ page: Page; stored: StoredUser }> {
  const page = await session(user);
  await page.getByRole('link', { name: 'Orders' }).click();
  await page.getByRole('heading', { name: 'Your orders' }).waitFor();
  return { page, stored: await storedUser(page) };
}

async function findProduct(page: Page, search: string, id: string) {
  await page.getByRole('link', { name: 'Catalog' }).click();
  await page.getByRole('searchbox', { name: 'Search products' }).fill(search);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const card = page.locator(`li[data-product-id="${id}"]`);
  await card.waitFor();
  return card;
}

async function addToCart(page: Page, search: string, id: string, quantity: number) {
  const card = await findProduct(page, search, id);
  await card.getByLabel('Quantity').fill(String(quantity));
  await card.getByRole('button', { name: 'Add to cart' }).click();
  return card;
}

async function checkout(page: Page, paymentMethod: string): Promise<string> {
  await page.getByRole('link', { name: /^Cart/ }).click();
  await page.getByLabel('Payment method').selectOption(paymentMethod);
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.waitForURL(/\/shop\/orders\/[0-9a-f-]{36}$/);
  return page.url().split('/').at(-1) ?? '';
}

const orderStatus = (page: Page, status: string, timeout = 30_000) => page.locator('[data-testid="order-status"]', { hasText: status }).waitFor({ timeout });
const step = (page: Page, name: string, status: string) => page.locator(`.timeline li[data-step="${name}"][data-status="${status}"]`);

describe('storefront and operations console in Chromium', () => {
  it('lets a customer sign in, buy with a card and watch the saga confirm the order, with stock shown live', async () => {
    const before = await agora.stockOf(WEBCAM);
    const page = await session('alice');
    await page.locator('li.product').first().waitFor();
    await screenshot(page, 'catalog');
    const card = await addToCart(page, 'webcam', WEBCAM, 2);
    await card.getByRole('status').filter({ hasText: 'Added to your cart.' }).waitFor();
    await page.getByRole('link', { name: 'Cart (2)' }).click();
    await page.getByRole('row', { name: /Webcam/ }).waitFor();
    await screenshot(page, 'cart');
    expect(await accessibilityProblems(page)).toEqual([]);

    const orderId = await checkout(page, 'pm_card_visa');
    await orderStatus(page, 'confirmed');
    await step(page, 'confirm-order', 'SUCCEEDED').waitFor();
    await step(page, 'reserve-stock', 'SUCCEEDED').waitFor();
    await step(page, 'charge-payment', 'SUCCEEDED').waitFor();
    await screenshot(page, 'order-confirmed');
    expect(await accessibilityProblems(page)).toEqual([]);

    const order = await agora.settled('alice', orderId);
    expect(order).toMatchObject({ status: 'CONFIRMED', total: { amount: 2 * 6900 } });
    expect(await agora.stockOf(WEBCAM)).toBe(before - 2);
    // The catalog shows the new stock without a reload.
    const shown = await findProduct(page, 'webcam', WEBCAM);
    await shown.locator(`[data-stock="${before - 2}"]`).waitFor();
    // The cart was turned into the order.
    await page.getByRole('link', { name: 'Cart', exact: true }).waitFor();
  }, 90_000);

  it('shows a declined payment compensating: the reservation released, the order cancelled with its reason', async () => {
    const before = await agora.stockOf(LAMP);
    const page = await session('alice');
    await addToCart(page, 'lamp', LAMP, 1);
    const orderId = await checkout(page, 'pm_card_chargeDeclined');
    await orderStatus(page, 'cancelled');
    await step(page, 'charge-payment', 'REJECTED').waitFor();
    await step(page, 'release-stock', 'SUCCEEDED').waitFor();
    await step(page, 'cancel-order', 'SUCCEEDED').waitFor();
    await page.getByText(/declined/i).first().waitFor();
    expect(await page.locator('.timeline li.compensation').count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'order-compensated');

    const order = await agora.settled('alice', orderId);
    expect(order.status).toBe('CANCELLED');
    expect(await agora.stockOf(LAMP)).toBe(before);
  }, 60_000);

  it('lets a customer cancel an order while its payment waits for 3-D Secure, and not afterwards', async () => {
    const before = await agora.stockOf(PEN);
    const page = await session('alice');
    await addToCart(page, 'fountain', PEN, 1);
    const orderId = await checkout(page, 'pm_card_threeDSecureRequired');
    await page.getByRole('button', { name: 'Cancel order' }).click();
    await orderStatus(page, 'cancelled');
    await page.getByText('cancelled on request').waitFor();
    await step(page, 'release-stock', 'SUCCEEDED').waitFor();
    expect(await page.getByRole('button', { name: 'Cancel order' }).count()).toBe(0);

    const order = await agora.settled('alice', orderId);
    expect(order).toMatchObject({ status: 'CANCELLED', statusReason: 'cancel: cancelled on request' });
    expect(await agora.stockOf(PEN)).toBe(before);
  }, 60_000);

  it('says so when the stock is not enough, and adds nothing', async () => {
    const page = await session('bob');
    const card = await addToCart(page, 'standing desk', STANDING_DESK, 50);
    await card.locator('[role="alert"][data-code="OUT_OF_STOCK"]', { hasText: 'Not enough stock' }).waitFor();
    const cart = await agora.ok<{ me: { cart: { itemCount: number } } }>('bob', '{ me { cart { itemCount } } }');
    expect(cart.me.cart.itemCount).toBe(0);
  }, 30_000);

  it('places an order once when its answer was lost and Place order is pressed again, and a cart changed since as a new order', async () => {
    const newOrders = async (before: readonly string[]) =>
      (await agora.ok<{ me: { orders: { id: string; lines: { quantity: number }[] }[] } }>('bob', '{ me { orders(first: 100) { id lines { quantity } } } }')).me.orders.filter((order) => !before.includes(order.id));
    const before = (await newOrders([])).map((order) => order.id);
    const page = await session('bob');
    // The next placeOrder reaches the gateway and is made, but its answer is lost on the way back:
    // the page is told SERVICE_UNAVAILABLE, as the gateway says when a subgraph's answer is lost.
    const loseNextAnswer = async () => {
      let lost = false;
      await page.route('**/graphql', async (route) => {
        if (lost || !route.request().postData()?.includes('PlaceOrder')) return route.fallback();
        lost = true;
        await route.fetch();
        await route.fulfill({ contentType: 'application/json', body: JSON.stringify({ data: null, errors: [{ message: 'orders is not answering; the change may or may not have been made', extensions: { code: 'SERVICE_UNAVAILABLE' } }] }) });
      });
    };
    const placeAndLoseTheAnswer = async () => {
      await loseNextAnswer();
      await page.getByRole('link', { name: /^Cart/ }).click();
      await page.getByRole('button', { name: 'Place order' }).click();
      await page.locator('[role="alert"][data-code="SERVICE_UNAVAILABLE"]').waitFor();
      await page.unrouteAll({ behavior: 'wait' });
    };

    // Pressed again as it is: the same key answers the order the lost answer was for.
    await addToCart(page, 'cable', CABLE, 1);
    await placeAndLoseTheAnswer();
    const [lostOrder] = await newOrders(before);
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL(/\/shop\/orders\/[0-9a-f-]{36}$/);
    expect(page.url().split('/').at(-1)).toBe(lostOrder?.id);
    expect(await newOrders(before)).toHaveLength(1);

    // The cart changed after the lost answer (its quantity set again on the same page): the key is
    // refused for the other cart, and pressing again places the cart as it is now.
    await addToCart(page, 'cable', CABLE, 1);
    await placeAndLoseTheAnswer();
    const quantity = page.getByLabel('Quantity of USB-C cable 2 m');
    await quantity.fill('2');
    await quantity.blur();
    await page.getByRole('row', { name: /USB-C cable/ }).locator('input[value="2"]').waitFor();
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.locator('[role="alert"][data-code="IDEMPOTENCY_KEY_REUSED"]').waitFor();
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL(/\/shop\/orders\/[0-9a-f-]{36}$/);
    const placed = await newOrders(before);
    expect(placed.map((order) => order.lines.map((line) => line.quantity))).toEqual([[2], [1], [1]]);
    expect(page.url().split('/').at(-1)).toBe(placed[0]?.id);
  }, 60_000);

  it('lists notifications in the inbox and marks one read', async () => {
    const page = await session('alice');
    await page.getByRole('link', { name: /^Notifications/ }).click();
    const confirmed = page.locator('.inbox li.unread[data-kind="ORDER_CONFIRMED"]').first();
    await confirmed.waitFor();
    const unreadBefore = await page.locator('.inbox li.unread').count();
    await screenshot(page, 'notifications');
    await confirmed.getByRole('button', { name: /^Mark .* as read$/ }).click();
    await page.locator('.inbox li.unread').nth(unreadBefore - 1).waitFor({ state: 'detached' });
    const inbox = await agora.ok<{ me: { notifications: { unreadCount: number } } }>('alice', '{ me { notifications(first: 1) { unreadCount } } }');
    expect(inbox.me.notifications.unreadCount).toBe(unreadBefore - 1);
  }, 30_000);

  it('lets an admin find a saga that needs attention and retry it to CONFIRMED; customers cannot open the console', async () => {
    const placed = await agora.buy('alice', 'pm_card_threeDSecureCancelRefused', [[CABLE, 1]]);
    await agora.orderWhen('alice', placed.id, (order) => order.status === 'NEEDS_ATTENTION', 60_000);

    const customer = await session('alice');
    await customer.goto(new URL(`admin/sagas/${placed.id}`, shopUrl).href);
    await customer.getByRole('heading', { name: 'Operators only' }).waitFor();
    expect(await customer.getByRole('link', { name: 'Sagas' }).count()).toBe(0);

    const page = await session('admin');
    await page.getByRole('link', { name: 'Sagas' }).click();
    await page.getByRole('button', { name: 'needs attention' }).click();
    const row = page.locator(`tr[data-order-id="${placed.id}"]`);
    await row.waitFor();
    await screenshot(page, 'admin-sagas');
    expect(await accessibilityProblems(page)).toEqual([]);
    await row.getByRole('link').click();
    await step(page, 'cancel-payment', 'REJECTED').waitFor();
    await step(page, 'escalate', 'SUCCEEDED').waitFor();
    await screenshot(page, 'admin-saga');

    // The operator settles the payment at the provider (the customer passed the challenge after all), then retries.
    const confirmation = await fetch(new URL(`/simulated-provider/orders/${placed.id}/confirmation`, agora.appUrl('payments')), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await agora.token('admin')}` },
      body: JSON.stringify({ outcome: 'succeeded' }),
    });
    expect(confirmation.status).toBe(200);
    await page.getByRole('button', { name: 'Retry saga' }).click();
    await orderStatus(page, 'confirmed', 40_000);
    expect((await agora.settled('alice', placed.id)).status).toBe('CONFIRMED');
  }, 120_000);

  it('lets an admin stop a running saga and compensate it', async () => {
    const before = await agora.stockOf(PEN);
    const placed = await agora.buy('bob', 'pm_card_threeDSecureRequired', [[PEN, 1]]);
    const page = await session('admin');
    await page.goto(new URL(`admin/sagas/${placed.id}`, shopUrl).href);
    await page.getByText('await-payment-confirmation').waitFor();
    await page.getByRole('button', { name: 'Compensate saga' }).click();
    await orderStatus(page, 'cancelled');
    await step(page, 'release-stock', 'SUCCEEDED').waitFor();
    expect((await agora.settled('bob', placed.id)).status).toBe('CANCELLED');
    expect(await agora.stockOf(PEN)).toBe(before);
  }, 60_000);

  it('lets an admin restock a product', async () => {
    const before = await agora.stockOf(STANDING_DESK);
    const page = await session('admin');
    await page.getByRole('link', { name: 'Stock' }).click();
    const row = page.locator(`tr[data-product-id="${STANDING_DESK}"]`);
    await row.getByLabel('Units to add to Standing desk').fill('7');
    await row.getByRole('button', { name: 'Add units' }).click();
    await row.locator(`[data-stock="${before + 7}"]`).waitFor();
    expect(await agora.stockOf(STANDING_DESK)).toBe(before + 7);
    // A second restock is a new change (a new idempotency key once the first succeeded), not a resend.
    await row.getByRole('button', { name: 'Add units' }).click();
    await row.locator(`[data-stock="${before + 14}"]`).waitFor();
    expect(await agora.stockOf(STANDING_DESK)).toBe(before + 14);
  }, 30_000);

  it('shows an admin every service and sidecar with its circuit breakers', async () => {
    const page = await session('admin');
    await page.getByRole('link', { name: 'Health' }).click();
    for (const service of ['gateway', 'users', 'inventory', 'orders', 'payments']) {
      await page.locator(`li[data-service="${service}"][data-status="up"]`).waitFor();
    }
    const payments = page.locator('li[data-service="payments"]');
    await payments.getByText(/payment-provider/).waitFor();
    await screenshot(page, 'admin-health');
    expect(await accessibilityProblems(page)).toEqual([]);

    // A hidden tab polls nothing (the health report every 5 s, the inbox every 10 s), and starts again when shown.
    const polls: string[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path === '/admin/health' || path === '/graphql') polls.push(path);
    });
    await setTabHidden(page, true);
    polls.length = 0;
    await page.waitForTimeout(11_000);
    expect(polls).toEqual([]);
    await setTabHidden(page, false);
    await expect.poll(() => polls.includes('/admin/health'), { timeout: 7_000 }).toBe(true);
  }, 45_000);

  it('renews an expired access token with the refresh token when a tab is opened again', async () => {
    // What a tab left for longer than the token's 5 minutes holds: the same tokens, past their expiry.
    const { page, stored } = await ordersPage('bob');
    await storeUser(page, { ...stored, user: { ...stored.user, expires_at: Math.floor(Date.now() / 1000) - 60 } });
    await page.reload();
    await page.getByText('Signed in as bob').waitFor();
    await page.getByRole('heading', { name: 'Your orders' }).waitFor();
    await page.locator('table.lines, main p').first().waitFor();
    expect(await page.locator('[role="alert"]').count()).toBe(0);
    expect((await storedUser(page)).user.access_token).not.toBe(stored.user.access_token);
  }, 30_000);

  it('tells a customer whose token the API refuses that the session expired, and signs in again', async () => {
    // A token the issuer did not sign (as after its keys changed): the stored one with its signature broken.
    const { page, stored } = await ordersPage('bob');
    const [header, payload] = stored.user.access_token.split('.');
    await storeUser(page, { ...stored, user: { ...stored.user, access_token: `${header}.${payload}.c2lnbmF0dXJl` } });
    await page.reload();
    const alert = page.locator('[role="alert"][data-code="UNAUTHENTICATED"]').first();
    await alert.getByText('Your session has expired').waitFor();
    await screenshot(page, 'session-expired');
    // The provider's session is still alive: signing in again needs no password and gets a good
    // token. The page under the banner already shows what the new one must show, so the checks
    // wait for the round trip through the provider and back first.
    await Promise.all([page.waitForURL('**/callback**'), alert.getByRole('button', { name: /Sign in again/ }).click()]);
    await page.waitForURL((url) => !url.pathname.endsWith('/callback'));
    await page.getByText('Signed in as bob').waitFor();
    await page.getByRole('heading', { name: 'Your orders' }).waitFor();
    await page.waitForLoadState('networkidle');
    const alerts = await page.locator('[role="alert"]').allTextContents();
    expect(alerts.length, JSON.stringify(alerts)).toBe(0);
  }, 30_000);

  it('works on a phone-sized screen', async () => {
    const page = await (await newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await page.goto(shopUrl);
    await page.locator('li.product').first().waitFor();
    const overflow = await page.evaluate(() => {
      const { documentElement } = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
      return documentElement.scrollWidth - documentElement.clientWidth;
    });
    expect(overflow).toBe(0);
    await screenshot(page, 'catalog-phone');
    expect(await accessibilityProblems(page)).toEqual([]);
  }, 30_000);

  it('sends pages with a content security policy that none of them broke, and no uncaught error', async () => {
    const page = await (await newContext()).newPage();
    const response = await page.goto(new URL('orders/unknown', shopUrl).href);
    expect(response?.headers()['content-security-policy']).toMatch(/default-src 'self'/);
    await page.getByRole('heading', { name: 'Sign in to continue' }).waitFor();
    expect(pageFaults).toEqual([]);
  }, 30_000);

  // Last: it spends the anonymous callers' budget of this window (the key is the client address).
  it('tells an anonymous visitor who sent too many requests to wait', async () => {
    const query = JSON.stringify({ query: '{ products(first: 1) { totalCount } }' });
    /** Sends until refused (a window that rolls over meanwhile starts counting again); the seconds the refusal says to wait. */
    const spendBudget = async (): Promise<number> => {
      for (let sent = 0; sent < 3 * ANONYMOUS_LIMIT; sent += 1) {
        const response = await fetch(agora.system.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: query });
        await response.arrayBuffer();
        if (response.status === 429) return Number(response.headers.get('retry-after'));
      }
      throw new Error(`${3 * ANONYMOUS_LIMIT} anonymous requests and none refused`);
    };
    // The page must load in the window whose budget is spent: one with time left.
    let left = await spendBudget();
    if (left < 10) {
      await new Promise((resolve) => setTimeout(resolve, (left + 1) * 1_000));
      left = await spendBudget();
    }
    expect(left).toBeGreaterThanOrEqual(10);
    const page = await (await newContext()).newPage();
    await page.goto(shopUrl);
    await page.locator('[role="alert"][data-code="RATE_LIMITED"]', { hasText: 'Too many requests' }).waitFor();
  }, 60_000);
});
