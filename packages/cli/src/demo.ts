// The order saga, watched from a terminal: signs in as a dev user, fills the cart, places an
// order for each test payment method and prints the saga's steps as they happen.
//
//   npm run demo                                  (against `npm start` on its default ports)
//   npm run demo -- --user bob --methods pm_card_visa,pm_card_chargeDeclined
//   npm run demo -- --gateway http://127.0.0.1:4000/ --issuer http://127.0.0.1:8080/realms/agora
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { passwordGrant } from '@agora/keycloak';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: 'http://127.0.0.1:4000/' },
    issuer: { type: 'string', default: 'http://127.0.0.1:8080/realms/agora' },
    user: { type: 'string', default: 'alice' },
    product: { type: 'string', default: '7c0a1000-0000-4000-8000-000000000002' },
    methods: { type: 'string', default: 'pm_card_visa,pm_card_chargeDeclined,pm_card_threeDSecureRequired,pm_card_flaky,pm_card_timeout' },
    'timeout-seconds': { type: 'string', default: '90' },
  },
  strict: true,
});

interface Step {
  name: string;
  status: string;
  compensation: boolean;
  attempts: number;
  error: string | null;
}

interface OrderView {
  id: string;
  status: string;
  statusReason: string | null;
  total: { amount: number; currency: string };
  saga: { runtimeStatus: string | null; currentStep: string | null; steps: Step[] };
}

const { accessToken } = await passwordGrant({ issuer: values.issuer, clientId: 'agora-cli', username: values.user, password: `${values.user}-dev-password` });

async function graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(values.gateway, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors) throw new Error(body.errors.map((error) => `${error.extensions?.code ?? 'ERROR'}: ${error.message}`).join('; '));
  return body.data as T;
}

const ORDER = `query($id: ID!) { order(id: $id) { id status statusReason total { amount currency }
  saga { runtimeStatus currentStep steps { name status compensation attempts error } } } }`;

const money = (total: { amount: number; currency: string }) => `${(total.amount / 100).toFixed(2)} ${total.currency}`;
const describeStep = (step: Step) => `${step.compensation ? '↩' : '→'} ${step.name.padEnd(58)} ${step.status}${step.attempts > 1 ? ` (attempt ${step.attempts})` : ''}${step.error ? `: ${step.error}` : ''}`;

const { product } = await graphql<{ product: { name: string } | null }>('query($p: ID!) { product(id: $p) { name } }', { p: values.product });
if (!product) throw new Error(`no product ${values.product} in the catalog (--product takes a product id)`);

let failures = 0;
for (const method of values.methods.split(',').filter(Boolean)) {
  console.log(`\n${values.user} buys 1 × ${product.name} with ${method}`);
  await graphql('mutation($p: ID!, $key: String!) { addToCart(productId: $p, quantity: 1, idempotencyKey: $key) { itemCount } }', { p: values.product, key: randomUUID() });
  const { placeOrder } = await graphql<{ placeOrder: OrderView }>('mutation($input: PlaceOrderInput!, $key: String!) { placeOrder(input: $input, idempotencyKey: $key) { id status total { amount currency } } }', {
    input: { paymentMethod: method },
    key: randomUUID(),
  });
  console.log(`  order ${placeOrder.id} ${placeOrder.status}, ${money(placeOrder.total)}`);
  const seen = new Map<string, string>();
  let stage: string | null = null;
  const deadline = Date.now() + Number(values['timeout-seconds']) * 1000;
  for (;;) {
    const { order } = await graphql<{ order: OrderView }>(ORDER, { id: placeOrder.id });
    // Waits that are no step of their own, e.g. for an asynchronous payment confirmation.
    if (order.saga.currentStep !== stage && order.saga.currentStep?.startsWith('await-')) console.log(`  … ${order.saga.currentStep}`);
    stage = order.saga.currentStep;
    for (const step of order.saga.steps) {
      const line = describeStep(step);
      if (seen.get(step.name) !== line) console.log(`  ${line}`);
      seen.set(step.name, line);
    }
    // The response reads the order before the workflow's status: a saga that has just completed
    // can still show beside the order as it was a moment before.
    const ended = order.saga.runtimeStatus !== 'RUNNING' && order.saga.runtimeStatus !== 'PENDING';
    if (ended && !(order.saga.runtimeStatus === 'COMPLETED' && order.status === 'PENDING')) {
      console.log(`  ⇒ ${order.status}${order.statusReason ? ` (${order.statusReason})` : ''}; saga ${order.saga.runtimeStatus ?? 'gone'}`);
      break;
    }
    if (Date.now() > deadline) {
      console.log(`  ⇒ still ${order.status} after ${values['timeout-seconds']} s (at ${order.saga.currentStep ?? '?'})`);
      failures += 1;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
process.exitCode = failures > 0 ? 1 : 0;
