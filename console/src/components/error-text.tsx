import { errorText } from './format';

/**
 * A failure shown to the person (and announced by screen readers: role alert); nothing when
 * there is none, so `<ErrorText error={query.error} />` can stand where the error may appear.
 */
export function ErrorText({ error }: { error: unknown }) {
  if (error === undefined || error === null || error === '' || error === false) return null;
  return (
    <p className="error" role="alert">
      {errorText(error)}
    </p>
  );
}
