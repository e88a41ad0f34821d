/** A status as a coloured label; the colours live in styles.css under [data-status]. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span className="badge" data-status={status}>
      {status.replace('_', ' ')}
    </span>
  );
}
