import type { BatonMetricName, MetricsRecorder } from '#shared/domain/metrics';

/** One data point a fake MetricsRecorder was given. */
export interface RecordedMetric {
  name: BatonMetricName;
  dimensions: Record<string, string> | undefined;
  value: number;
}

/** A MetricsRecorder that keeps every data point (unit tests assert what the engine reported). */
export function recordedMetrics() {
  const points: RecordedMetric[] = [];
  const recorder: MetricsRecorder = {
    add(name, dimensions, value = 1) {
      points.push({ name, dimensions: dimensions, value });
    },
  };
  return {
    recorder,
    points,
    /** The data points of one metric. */
    of: (name: BatonMetricName) => points.filter((point) => point.name === name),
    /** The sum of one metric's values with these dimensions (any, when not given). */
    count: (name: BatonMetricName, dimensions?: Record<string, string>) =>
      points.filter((point) => point.name === name && (!dimensions || JSON.stringify(point.dimensions) === JSON.stringify(dimensions))).reduce((sum, point) => sum + point.value, 0),
  };
}
