// The benchmarks' machine description: the cost of a system call and of a
// page fault, measured, and said in every section's "Machine:" line (in bold
// when the machine is slow at either, since tails then grow on every path).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { costsText, machineLine, measureCosts } from '../bench/machine.js';
import type { Machine } from '../bench/report.js';

const machine: Machine = {
  cpuModel: 'Test CPU', cores: 2, kernel: '6.1.0', node: 'v20.0.0', nodeOpenssl: '3.0.0', tools: { wrk: '4.1.0', nginx: '1.22.1' },
};

describe('benchmark machine costs', () => {
  it('measures a system call and a page fault in microseconds', () => {
    const costs = measureCosts();
    for (const [name, us] of Object.entries(costs)) {
      assert.ok(Number.isFinite(us) && us > 0, `${name} = ${us}`);
      assert.ok(us < 1000, `${name} = ${us} µs: not a per-operation figure`);
    }
  });

  it('puts both in the Machine line, in bold only when the machine is slow at one', () => {
    const ordinary = machineLine({ ...machine, costs: { syscallUs: 0.4, pageFaultUs: 0.6 } });
    assert.match(ordinary, /^Machine: 2 cores \(Test CPU\), Linux 6\.1\.0, Node v20\.0\.0 \(OpenSSL 3\.0\.0\); a system call 0\.40 µs .*a page fault 0\.60 µs/);
    assert.match(ordinary, /; wrk 4\.1\.0, nginx 1\.22\.1\.$/);
    assert.doesNotMatch(ordinary, /\*\*/);
    assert.match(costsText({ syscallUs: 4.5, pageFaultUs: 0.6 }), /^\*\*a system call 4\.50 µs.*not comparable.*\*\*$/);
    assert.match(costsText({ syscallUs: 0.4, pageFaultUs: 15.7 }), /^\*\*.*a page fault 15\.70 µs/);
  });

  it('leaves them out for results recorded before they were measured', () => {
    assert.equal(machineLine(machine, machine.tools, '**2 cores**'),
      'Machine: **2 cores** (Test CPU), Linux 6.1.0, Node v20.0.0 (OpenSSL 3.0.0); wrk 4.1.0, nginx 1.22.1.');
  });
});
