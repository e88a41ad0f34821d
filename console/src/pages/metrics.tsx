import { useQuery } from '@tanstack/react-query';
import { ErrorText } from '../components/error-text';
import { useSession } from '../context';

/**
 * The project's Prometheus endpoint (issue 14 §6) as a scraper reads it: the text itself, and the
 * scrape line (any token of the project may read it; the API wants it as a bearer header).
 */
export function MetricsPage() {
  const { api, apiUrl, projectId } = useSession();
  const metrics = useQuery({ queryKey: ['metrics', projectId], queryFn: () => api.getProjectMetrics(projectId) });
  const url = `${apiUrl.replace(/\/$/, '')}/v1/projects/${projectId}/metrics`;
  return (
    <div>
      <h1>Prometheus metrics</h1>
      <p className="muted small">
        Scrape it with a token of this project as a bearer header: <span className="mono" data-testid="metrics-scrape">curl -H &quot;Authorization: Bearer $TOKEN&quot; {url}</span>
      </p>
      <ErrorText error={metrics.error} />
      {metrics.data !== undefined && <pre className="metrics-text" data-testid="metrics">{metrics.data}</pre>}
    </div>
  );
}
