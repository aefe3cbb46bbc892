import { useMutation, useQuery } from '@apollo/client/react';
import { useState, type SyntheticEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useSession } from '../auth.tsx';
import { ErrorMessage } from '../components/error-message.tsx';
import { formatMoney } from '../format.ts';
import { useIdempotencyKey } from '../idempotency-key.ts';
import { ADD_TO_CART, CATALOG, MY_CART, type Product } from '../operations.ts';

const PAGE_SIZE = 12;
/** Stock changes as others buy: the page asks again this often. */
const STOCK_POLL_MS = 5_000;

export function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const [draft, setDraft] = useState(search);
  const { data, error, loading, fetchMore } = useQuery(CATALOG, { variables: { search: search || undefined, first: PAGE_SIZE }, pollInterval: STOCK_POLL_MS, notifyOnNetworkStatusChange: true });

  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    setParams(draft.trim() ? { q: draft.trim() } : {});
  };
  const products = data?.products;
  return (
    <main>
      <h1>Catalog</h1>
      <form role="search" onSubmit={submit} className="search">
        <label htmlFor="search">Search products</label>
        <input id="search" type="search" value={draft} onChange={(event) => setDraft(event.target.value)} placeholder="usb, keyboard…" />
        <button type="submit">Search</button>
      </form>
      <ErrorMessage error={error} />
      {products && (
        <>
          <p aria-live="polite">
            {products.totalCount} product{products.totalCount === 1 ? '' : 's'}
            {search && ` for “${search}”`}
          </p>
          <ul className="products">
            {products.nodes.map((product) => (
              <ProductCard key={product.id} product={product} />
            ))}
          </ul>
          {products.pageInfo.hasNextPage && (
            <button type="button" disabled={loading} onClick={() => void fetchMore({ variables: { after: products.pageInfo.endCursor } , updateQuery: (previous, { fetchMoreResult }) => ({ products: { ...fetchMoreResult.products, nodes: [...previous.products.nodes, ...fetchMoreResult.products.nodes] } }) })}>
              Show more
            </button>
          )}
        </>
      )}
      {loading && !products && <p className="loading">Loading the catalog…</p>}
    </main>
  );
}

function ProductCard({ product }: { product: Product }) {
  const session = useSession();
  const [quantity, setQuantity] = useState(1);
  const [addToCart, { error, loading, data, reset }] = useMutation(ADD_TO_CART, { refetchQueries: [MY_CART] });
  const idempotencyKey = useIdempotencyKey();
  const add = async () => {
    const result = await addToCart({ variables: { productId: product.id, quantity, idempotencyKey: idempotencyKey.current() } }).catch(() => undefined);
    if (result?.data) idempotencyKey.renew();
  };
  const headingId = `product-${product.id}`;
  return (
    <li className="product" aria-labelledby={headingId} data-product-id={product.id}>
      <h2 id={headingId}>{product.name}</h2>
      <p>{product.description}</p>
      <p className="price">{formatMoney(product.price)}</p>
      <p className={product.inStock ? 'stock' : 'stock out'} data-stock={product.stock}>
        {product.inStock ? `${product.stock} in stock` : 'Out of stock'}
      </p>
      {session.user ? (
        <div className="buy">
          <label>
            Quantity
            <input type="number" min={1} max={99} value={quantity} onChange={(event) => { setQuantity(Number(event.target.value)); reset(); idempotencyKey.renew(); }} />
          </label>
          <button type="button" disabled={loading || !product.inStock} onClick={() => void add()}>
            Add to cart
          </button>
          {data && !error && <span role="status">Added to your cart.</span>}
          <ErrorMessage error={error} />
        </div>
      ) : (
        <button type="button" className="link" onClick={() => void session.signIn()}>
          Sign in to buy
        </button>
      )}
    </li>
  );
}
