/**
 * The bench's SVG charts (bench/charts.ts): well-formed markup, one bar per peer and floor
 * for each atomfs row, a 1.0 line, every label escaped, and scaling curves only where a
 * workload was measured at several concurrencies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barsOf, chartsOf, esc, ratioChart, scalingChart, type BenchResults } from '../../bench/charts.js';
import type { CaseResult } from '../../bench/cases.js';

/** Checks that every tag is closed in order and returns the element names seen (XML-ish: no DTD, no CDATA). */
function wellFormed(svg: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const body = svg.replace(/<style>[^<]*<\/style>/g, '<style></style>');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes what was opened`);
    else {
      seen.push(name!);
      if (!self) stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], 'every element closed');
  // Nothing that looks like markup is left outside the tags matched above.
  const rest = body.replace(/<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g, '');
  assert.ok(!/[<>]/.test(rest), `stray < or > in text: ${rest.match(/.{0,30}[<>].{0,30}/)?.[0]}`);
  assert.ok(!/&(?!amp;|lt;|gt;|quot;|#39;)/.test(rest), 'every & is an entity');
  return seen;
}

const row = (name: string, ...samples: number[]): CaseResult['rows'][number] => ({ name, samples });

const CASE: CaseResult = {
  id: 'durable-c1',
  title: '300 × 1 KiB writes <fsync & "folder">',
  unit: 'writes/s',
  ref: 'atomfs',
  rows: [row('atomfs', 1000, 1100, 900), row('atomfs (cleanupOnExit: false)', 950), row('write-file-atomic <wfa> & "co"', 500), row('steno', 2000), row('C floor', 1250, 1250)],
  notes: [],
};

const RUN: BenchResults = {
  version: 1,
  started: '2026-12-07T16:00:00.000Z',
  quick: true,
  command: 'BENCH_QUICK=1 npm run bench -- durable',
  machine: { nproc: 2, kernel: 'k', fsType: 'ext4', node: 'v20', cpu: 'c', memGiB: 4, uvThreadpool: '4' },
  reps: 2,
  cases: [CASE, { ...CASE, id: 'durable-c64', title: 'c64', rows: [row('atomfs', 3000), row('write-file-atomic <wfa> & "co"', 1000), row('C floor', 2500)] }],
  targets: [],
};

describe('bench charts', () => {
  it('a ratio chart is well-formed SVG with one bar per peer and floor for each atomfs row, and a 1.0 line', () => {
    const svg = ratioChart(CASE, 'quick run <today>');
    const tags = wellFormed(svg);
    assert.equal(tags[0], 'svg');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const bars = [...svg.matchAll(/<rect class="bar[^"]*"/g)].length;
    // Two atomfs rows, each against write-file-atomic, steno and the C floor.
    assert.equal(bars, 2 * 3);
    assert.equal(barsOf(CASE).length, 6);
    assert.deepEqual(
      barsOf(CASE).filter((b) => b.group === 'atomfs').map((b) => [b.label, +b.ratio.toFixed(2), b.floor]),
      [
        ['write-file-atomic <wfa> & "co"', 2, false],
        ['steno', 0.5, false],
        ['C floor', 0.8, true],
      ],
    );
    assert.equal([...svg.matchAll(/class="bar floor"/g)].length, 2, 'the floor bars');
    assert.equal([...svg.matchAll(/class="bar behind"/g)].length, 2, 'the bars where atomfs is slower (steno)');
    assert.match(svg, /<line class="even"[^>]*\/>/);
    assert.match(svg, />2\.00×</);
  });

  it('every label is escaped: row names, title, subtitle', () => {
    const svg = ratioChart(CASE, 'quick run <today> & "noisy"');
    assert.ok(!svg.includes('<wfa>') && !svg.includes('<fsync') && !svg.includes('<today>'), 'no raw markup from the labels');
    assert.ok(svg.includes(esc('write-file-atomic <wfa> & "co"')));
    assert.ok(svg.includes('&lt;fsync &amp; &quot;folder&quot;&gt;'));
    assert.ok(svg.includes('quick run &lt;today&gt; &amp; &quot;noisy&quot;'));
    assert.equal(esc(`<a href='x'>&</a>`), '&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('a wide range of ratios gets a log scale; a failed row is drawn as n/a, not NaN', () => {
    const hot: CaseResult = { ...CASE, id: 'hot-fsync', rows: [row('atomfs', 50_000), row('write-file-atomic', 100), { name: 'broken', samples: [], error: 'EIO' }] };
    const svg = ratioChart(hot, 'x');
    wellFormed(svg);
    assert.match(svg, /log scale/);
    assert.match(svg, />500×</);
    assert.match(svg, />n\/a</);
    assert.ok(!svg.includes('NaN'), 'no NaN in the markup');
  });

  it('a run gives one ratio chart per case and a scaling chart where a workload has several concurrencies', () => {
    const charts = chartsOf(RUN);
    assert.deepEqual(charts.map((c) => c.file), ['durable-c1.svg', 'durable-c64.svg', 'scaling-durable.svg']);
    for (const c of charts) wellFormed(c.svg);
    const scaling = charts[2]!.svg;
    // Lines for the writers measured at both concurrencies only (not steno, not the second atomfs row).
    assert.equal([...scaling.matchAll(/<path class="line"/g)].length, 3);
    assert.equal([...scaling.matchAll(/<circle /g)].length, 6);
    assert.ok(!scaling.includes('steno'));
    assert.ok(scaling.includes('write-file-atomic &lt;wfa&gt;'));
  });

  it('a cost (lowerIsBetter: memory) divides the other way, so above 1 still means atomfs did better', () => {
    const rss: CaseResult = { ...CASE, id: 'rss-1gib-write', unit: 'MiB RSS growth', lowerIsBetter: true, rows: [row('atomfs', 2), row('write-file-atomic', 1000), row('move-file', 0.5)] };
    assert.deepEqual(
      barsOf(rss).map((b) => [b.label, b.ratio]),
      [
        ['write-file-atomic', 500],
        ['move-file', 0.25],
      ],
    );
    const svg = ratioChart(rss, 'x');
    wellFormed(svg);
    assert.equal([...svg.matchAll(/class="bar behind"/g)].length, 1, 'only the peer that needs less');
    assert.match(svg, /write-file-atomic ÷ atomfs: 500×/);
    assert.match(svg, /other ÷ atomfs, MiB RSS growth \(greater than 1: atomfs needs less\)/);
  });

  it('a scaling chart of one series and one point is still well-formed', () => {
    wellFormed(scalingChart('t <x>', 's', 'n', 'cycles/s', [{ name: 'a & b', points: [{ x: 1, y: 10 }] }]));
  });
});
