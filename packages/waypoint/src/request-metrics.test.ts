import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

const LABELS = ['code', 'service'] as const;
const COUNTER = { name: 'requests_total', help: 'Requests' };
const HISTOGRAMS = [
  { name: 'duration_ms', help: 'Duration', buckets: [1, 5, 10] },
  { name: 'size_bytes', help: 'Size', buckets: [100, 1000] },
];

/** Prometheus text → sample name{sorted labels} → value, so label order does not matter. */
function samples(text: string): Map<string, number> {
  const result = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match !== null, `unparsable line ${line}`);
    const labels = (match[2] ?? '').split(',').filter((l) => l !== '').sort().join(',');
    result.set(`${match[1]}{${labels}}`, Number(match[3]));
  }
  return result;
}

const observations: [Record<(typeof LABELS)[number], string>, number, number][] = [
  [{ code: '200', service: 'a' }, 0.4, 50],
  [{ code: '200', service: 'a' }, 1, 100],
  [{ code: '200', service: 'a' }, 7.5, 1500],
  [{ code: '503', service: 'a' }, 12, 0],
  [{ code: '200', service: 'b' }, 5, 999],
];

describe('RequestMetrics', () => {
  it('scrapes exactly what prom-client\'s own counter and histograms would for the same requests', async () => {
    const ours = new Registry();
    const metrics = new RequestMetrics({ registry: ours, labelNames: LABELS, counter: COUNTER, histograms: HISTOGRAMS, maxSeries: 100 });
    const reference = new Registry();
    const labelNames = [...LABELS];
    const counter = new Counter({ ...COUNTER, labelNames, registers: [reference] });
    const histograms = HISTOGRAMS.map((h) => new Histogram({ ...h, labelNames, registers: [reference] }));
    for (const [labels, duration, size] of observations) {
      metrics.record(labels, duration, size);
      counter.inc(labels);
      histograms[0]!.observe(labels, duration);
      histograms[1]!.observe(labels, size);
    }
    const got = await ours.metrics();
    assert.deepEqual(samples(got), samples(await reference.metrics()));
    assert.match(got, /# TYPE duration_ms histogram/);
    assert.match(got, /# TYPE requests_total counter/);
    assert.equal(samples(got).get('duration_ms_bucket{code="200",le="1",service="a"}'), 2, 'a bound is inclusive');
  });

  it('answers get() as prom-client does, for tests and JSON', async () => {
    const metrics = new RequestMetrics({ registry: new Registry(), labelNames: LABELS, counter: COUNTER, histograms: HISTOGRAMS, maxSeries: 100 });
    metrics.record({ code: '200', service: 'a' }, 3, 10);
    metrics.record({ code: '200', service: 'a' }, 4, 20);
    assert.deepEqual((await metrics.counter.get()).values, [{ value: 2, labels: { code: '200', service: 'a' } }]);
    const size = (await metrics.histograms[1]!.get()).values;
    assert.equal(size.find((v) => v.metricName === 'size_bytes_sum')?.value, 30);
    assert.equal(size.find((v) => v.metricName === 'size_bytes_count')?.value, 2);
  });

  it('keeps at most maxSeries label sets, dropping the oldest', async () => {
    const metrics = new RequestMetrics({ registry: new Registry(), labelNames: LABELS, counter: COUNTER, histograms: HISTOGRAMS, maxSeries: 2 });
    for (const service of ['a', 'b', 'c']) metrics.record({ code: '200', service }, 1, 1);
    assert.deepEqual((await metrics.counter.get()).values.map((v) => v.labels.service), ['b', 'c']);
  });
});
