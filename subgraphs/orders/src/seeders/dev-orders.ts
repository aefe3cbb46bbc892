// Order history for the dev users, so a fresh system has something to show. Product ids and
// prices are those of the inventory seed catalog; payments' seed refers to these order ids.
export const devOrders = [
  {
    id: '0d0e1000-0000-4000-8000-000000000001',
    customerId: '5a1f0c1e-0000-4000-8000-000000000001',
    status: 'CONFIRMED',
    createdAt: '2026-10-02T09:15:00Z',
    lines: [
      { id: '0d0e2000-0000-4000-8000-000000000001', productId: '7c0a1000-0000-4000-8000-000000000001', quantity: 1, unitPriceAmount: 8900 },
      { id: '0d0e2000-0000-4000-8000-000000000002', productId: '7c0a1000-0000-4000-8000-000000000002', quantity: 2, unitPriceAmount: 3900 },
    ],
  },
  {
    id: '0d0e1000-0000-4000-8000-000000000002',
    customerId: '5a1f0c1e-0000-4000-8000-000000000001',
    status: 'CANCELLED',
    createdAt: '2026-10-20T17:40:00Z',
    lines: [{ id: '0d0e2000-0000-4000-8000-000000000003', productId: '7c0a1000-0000-4000-8000-000000000003', quantity: 1, unitPriceAmount: 32900 }],
  },
  {
    id: '0d0e1000-0000-4000-8000-000000000003',
    customerId: '5a1f0c1e-0000-4000-8000-000000000002',
    status: 'CONFIRMED',
    createdAt: '2026-10-25T12:00:00Z',
    lines: [{ id: '0d0e2000-0000-4000-8000-000000000004', productId: '7c0a1000-0000-4000-8000-000000000010', quantity: 3, unitPriceAmount: 1200 }],
  },
] as const;
