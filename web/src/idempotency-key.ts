import { useRef } from 'react';

/**
 * One idempotency key per intended change: pressing again after an error (a lost answer included)
 * sends the same key, so the change is made once; `renew` after it succeeded or was edited.
 */
export function useIdempotencyKey(): { current: () => string; renew: () => void } {
  const key = useRef(crypto.randomUUID());
  return {
    current: () => key.current,
    renew: () => {
      key.current = crypto.randomUUID();
    },
  };
}
