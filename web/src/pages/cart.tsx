import { useMutation, useQuery } from '@apollo/client/react';
import { PAYMENT_METHODS } from '@agora/internal-api/payment-methods';
import { ErrorCode } from '@agora/service/errors';
import { useState, type SyntheticEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { ErrorMessage } from '../components/error-message.tsx';
import { errorCodeOf } from '../errors.ts';
import { describePaymentMethod, formatMoney } from '../format.ts';
import { useIdempotencyKey } from '../idempotency-key.ts';
import { MY_CART, MY_ORDERS, PLACE_ORDER, SET_CART_QUANTITY } from '../operations.ts';

export function CartPage() {
  const navigate = useNavigate();
  const { data, error, loading } = useQuery(MY_CART, { fetchPolicy: 'cache-and-network' });
  const [setQuantity, quantityState] = useMutation(SET_CART_QUANTITY, { refetchQueries: [MY_CART] });
  const [placeOrder, placing] = useMutation(PLACE_ORDER, { refetchQueries: [MY_CART, MY_ORDERS] });
  const [paymentMethod, setPaymentMethod] = useState<string>(PAYMENT_METHODS[0]);
  // One key per checkout: pressing again after a lost answer gets the same order, not a second one.
  const idempotencyKey = useIdempotencyKey();

  const cart = data?.me.cart;
  const currency = cart?.lines[0]?.product.price.currency ?? 'EUR';
  const estimate = cart?.lines.reduce((sum, line) => sum + line.product.price.amount * line.quantity, 0) ?? 0;

  const checkout = async (event: SyntheticEvent) => {
    event.preventDefault();
    const result = await placeOrder({ variables: { paymentMethod, idempotencyKey: idempotencyKey.current() } }).catch((error: unknown) => {
      // The key placed an order for another cart (its answer was lost, then the cart changed): pressing again places this cart.
      if (errorCodeOf(error).code === ErrorCode.IDEMPOTENCY_KEY_REUSED) idempotencyKey.renew();
      return undefined;
    });
    if (result?.data) {
      idempotencyKey.renew();
      await navigate(`/orders/${result.data.placeOrder.id}`);
    }
  };

  return (
    <main>
      <h1>Your cart</h1>
      <ErrorMessage error={error ?? quantityState.error} />
      {loading && !cart && <p className="loading">Loading your cart…</p>}
      {cart && cart.lines.length === 0 && (
        <p>
          Your cart is empty. <Link to="/">Browse the catalog</Link>.
        </p>
      )}
      {cart && cart.lines.length > 0 && (
        <>
          <table className="lines">
            <caption className="visually-hidden">Products in your cart</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Price</th>
                <th scope="col">Quantity</th>
                <th scope="col">
                  <span className="visually-hidden">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {cart.lines.map((line) => (
                <tr key={line.product.id}>
                  <th scope="row">{line.product.name}</th>
                  <td>{formatMoney(line.product.price)}</td>
                  <td>
                    <input
                      type="number"
                      min={1}
                      max={99}
                      aria-label={`Quantity of ${line.product.name}`}
                      defaultValue={line.quantity}
                      onBlur={(event) => {
                        const quantity = Number(event.target.value);
                        if (quantity !== line.quantity) void setQuantity({ variables: { productId: line.product.id, quantity } }).catch(() => undefined);
                      }}
                    />
                  </td>
                  <td>
                    <button type="button" className="link" onClick={() => void setQuantity({ variables: { productId: line.product.id, quantity: 0 } }).catch(() => undefined)}>
                      Remove {line.product.name}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="total">
            {cart.itemCount} item{cart.itemCount === 1 ? '' : 's'}, about {formatMoney({ amount: estimate, currency })}; the order is priced when it is placed.
          </p>
          <form onSubmit={(event) => void checkout(event)} className="checkout">
            <label htmlFor="payment-method">Payment method</label>
            <select id="payment-method" value={paymentMethod} onChange={(event) => setPaymentMethod(event.target.value)}>
              {PAYMENT_METHODS.map((method) => (
                <option key={method} value={method}>
                  {describePaymentMethod(method)}
                </option>
              ))}
            </select>
            <button type="submit" disabled={placing.loading}>
              {placing.loading ? 'Placing your order…' : 'Place order'}
            </button>
          </form>
          <ErrorMessage error={placing.error} />
        </>
      )}
    </main>
  );
}
