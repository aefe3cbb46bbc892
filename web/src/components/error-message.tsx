import { ErrorCode } from '@agora/service/errors';
import { useSession } from '../auth.tsx';
import { explainError } from '../errors.ts';

/** A failure in words, announced to screen readers, with the way out where there is one. */
export function ErrorMessage({ error }: { error: unknown }) {
  const session = useSession();
  if (error === undefined || error === null) return null;
  const { code, message } = explainError(error);
  return (
    <div className="error" role="alert" data-code={code}>
      <span>{message}</span>
      {code === ErrorCode.UNAUTHENTICATED && (
        <button type="button" onClick={() => void session.signIn()}>
          Sign in again
        </button>
      )}
    </div>
  );
}
