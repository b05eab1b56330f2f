// The four Istio request metrics, counted per label set in plain numbers and
// turned into Prometheus samples only when scraped. prom-client's counters
// and histograms validate and hash every label of every call (the children
// labels() returns do too): with 13 labels and four metrics that was a few
// per cent of the waypoint's CPU per request. The registered objects are
// prom-client's own classes, so the registry formats them as it does every
// other metric; only where their samples come from differs.
import { Counter, Histogram, type CounterConfiguration, type HistogramConfiguration, type Registry } from 'prom-client';

type Sample = { value: number; labels: Record<string, string | number>; metricName?: string };
type Snapshot = { name: string; help: string; type: string; aggregator: 'sum'; values: Sample[] };
/** A registered metric as the registry (and a test) reads it. */
export interface SnapshotSource { get(): Promise<Snapshot> }

/** One label set's numbers. Bucket counts are per bucket (not cumulative); the last is above every bound. */
interface Series {
  labels: Record<string, string>;
  count: number;
  histograms: { buckets: number[]; sum: number }[];
}

export interface RequestMetricsOptions<L extends string> {
  registry: Registry;
  labelNames: readonly L[];
  counter: { name: string; help: string };
  /** In the order record() takes their values. */
  histograms: { name: string; help: string; buckets: readonly number[] }[];
  /** Distinct label sets kept; beyond it the oldest is dropped (a bound against unbounded label values). */
  maxSeries: number;
}

export class RequestMetrics<L extends string> {
  private readonly series = new Map<string, Series>();
  private readonly bounds: (readonly number[])[];
  readonly counter: SnapshotSource;
  readonly histograms: SnapshotSource[];

  constructor(private readonly options: RequestMetricsOptions<L>) {
    const registers = [options.registry];
    const labelNames = [...options.labelNames];
    this.bounds = options.histograms.map((h) => [...h.buckets].sort((a, b) => a - b));
    const counterSnapshot = (): Snapshot => ({
      ...options.counter, type: 'counter', aggregator: 'sum',
      values: [...this.series.values()].map((s) => ({ value: s.count, labels: s.labels })),
    });
    this.counter = new SnapshotCounter({ ...options.counter, labelNames, registers }, counterSnapshot) as unknown as SnapshotSource;
    this.histograms = options.histograms.map((config, index) => {
      const snapshot = (): Snapshot => ({ ...config, type: 'histogram', aggregator: 'sum', values: this.histogramSamples(config.name, index) });
      return new SnapshotHistogram({ ...config, labelNames, buckets: [...config.buckets], registers }, snapshot) as unknown as SnapshotSource;
    });
  }

  /** One request: counted, and each histogram observes its value (in `histograms` order). */
  record(labels: Readonly<Record<L, string>>, ...values: number[]): void {
    let key = '';
    for (const name of this.options.labelNames) key += `${labels[name]}\u0000`;
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= this.options.maxSeries) {
        const oldest = this.series.keys().next();
        if (oldest.done !== true) this.series.delete(oldest.value);
      }
      series = {
        labels: { ...labels },
        count: 0,
        histograms: this.bounds.map((bounds) => ({ buckets: new Array<number>(bounds.length + 1).fill(0), sum: 0 })),
      };
      this.series.set(key, series);
    }
    series.count++;
    for (let i = 0; i < series.histograms.length; i++) {
      const value = values[i] ?? 0;
      const histogram = series.histograms[i]!;
      const bounds = this.bounds[i]!;
      let bucket = 0;
      while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
      histogram.buckets[bucket]!++;
      histogram.sum += value;
    }
  }

  private histogramSamples(name: string, index: number): Sample[] {
    const bounds = this.bounds[index]!;
    const samples: Sample[] = [];
    for (const series of this.series.values()) {
      const histogram = series.histograms[index]!;
      let cumulative = 0;
      bounds.forEach((le, i) => {
        cumulative += histogram.buckets[i]!;
        samples.push({ value: cumulative, labels: { ...series.labels, le }, metricName: `${name}_bucket` });
      });
      samples.push(
        { value: series.count, labels: { ...series.labels, le: '+Inf' }, metricName: `${name}_bucket` },
        { value: histogram.sum, labels: series.labels, metricName: `${name}_sum` },
        { value: series.count, labels: series.labels, metricName: `${name}_count` },
      );
    }
    return samples;
  }
}

// prom-client metric classes whose samples are `snapshot()`'s: the registry
// reads get() (JSON) or getForPromString() (text); both return the snapshot.
// (Its typings give `type` as an enum where the runtime has strings.)
type CounterGet = ReturnType<Counter['get']>;
type HistogramGet = ReturnType<Histogram['get']>;

class SnapshotCounter extends Counter {
  constructor(config: CounterConfiguration<string>, private readonly snapshot: () => Snapshot) {
    super(config);
  }

  override get(): CounterGet {
    return Promise.resolve(this.snapshot()) as unknown as CounterGet;
  }

  getForPromString(): CounterGet {
    return this.get();
  }
}

class SnapshotHistogram extends Histogram {
  constructor(config: HistogramConfiguration<string>, private readonly snapshot: () => Snapshot) {
    super(config);
  }

  override get(): HistogramGet {
    return Promise.resolve(this.snapshot()) as unknown as HistogramGet;
  }

  getForPromString(): HistogramGet {
    return this.get();
  }
}
