import { useMutation, useQuery } from '@apollo/client/react';
import { useState, type SyntheticEvent } from 'react';
import { ErrorMessage } from '../components/error-message.tsx';
import { formatMoney } from '../format.ts';
import { useIdempotencyKey } from '../idempotency-key.ts';
import { CATALOG, RESTOCK, type Product } from '../operations.ts';

export function AdminProductsPage() {
  const { data, error, loading } = useQuery(CATALOG, { variables: { first: 100 }, fetchPolicy: 'cache-and-network', pollInterval: 5_000 });
  return (
    <main>
      <h1>Products and stock</h1>
      <ErrorMessage error={error} />
      {loading && !data && <p className="loading">Loading products…</p>}
      {data && (
        <table className="lines">
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Price</th>
              <th scope="col">Stock</th>
              <th scope="col">Restock</th>
            </tr>
          </thead>
          <tbody>
            {data.products.nodes.map((product) => (
              <RestockRow key={product.id} product={product} />
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

function RestockRow({ product }: { product: Product }) {
  const [quantity, setQuantity] = useState(10);
  const [restock, { loading, error }] = useMutation(RESTOCK);
  const idempotencyKey = useIdempotencyKey();
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const result = await restock({ variables: { id: product.id, quantity, idempotencyKey: idempotencyKey.current() } }).catch(() => undefined);
    if (result?.data) idempotencyKey.renew();
  };
  return (
    <tr data-product-id={product.id}>
      <th scope="row">{product.name}</th>
      <td>{formatMoney(product.price)}</td>
      <td data-stock={product.stock}>{product.stock}</td>
      <td>
        <form onSubmit={(event) => void submit(event)} className="inline">
          <input type="number" min={1} value={quantity} aria-label={`Units to add to ${product.name}`} onChange={(event) => { setQuantity(Number(event.target.value)); idempotencyKey.renew(); }} />
          <button type="submit" disabled={loading}>
            Add units
          </button>
        </form>
        <ErrorMessage error={error} />
      </td>
    </tr>
  );
}
