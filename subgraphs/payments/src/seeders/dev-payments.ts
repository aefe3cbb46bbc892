// Payments of the orders in the orders service's dev seed (same order ids and totals).
export const devPayments = [
  {
    id: '0e0f1000-0000-4000-8000-000000000001',
    orderId: '0d0e1000-0000-4000-8000-000000000001',
    customerId: '5a1f0c1e-0000-4000-8000-000000000001',
    status: 'CAPTURED',
    amount: 16700,
    method: 'pm_card_visa',
    createdAt: '2026-10-02T09:15:02Z',
  },
  {
    id: '0e0f1000-0000-4000-8000-000000000002',
    orderId: '0d0e1000-0000-4000-8000-000000000002',
    customerId: '5a1f0c1e-0000-4000-8000-000000000001',
    status: 'DECLINED',
    amount: 32900,
    method: 'pm_card_declined',
    createdAt: '2026-10-20T17:40:03Z',
  },
  {
    id: '0e0f1000-0000-4000-8000-000000000003',
    orderId: '0d0e1000-0000-4000-8000-000000000003',
    customerId: '5a1f0c1e-0000-4000-8000-000000000002',
    status: 'CAPTURED',
    amount: 3600,
    method: 'pm_card_visa',
    createdAt: '2026-10-25T12:00:02Z',
  },
] as const;
