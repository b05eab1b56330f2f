import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, createMergePatch, deepEqual } from './merge-patch.js';

describe('applyMergePatch', () => {
  // The examples of RFC 7386, appendix A.
  const rfc: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, expected] of rfc) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)} = ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(applyMergePatch(target, patch), expected);
    });
  }

  it('leaves its inputs untouched and shares nothing with them', () => {
    const target = { a: { b: 1 }, list: [1] };
    const patch = { a: { c: 2 }, added: { deep: [1, 2] } };
    const result = applyMergePatch(target, patch) as { a: { b: number; c: number }; added: { deep: number[] } };
    assert.deepEqual(target, { a: { b: 1 }, list: [1] });
    assert.deepEqual(patch, { a: { c: 2 }, added: { deep: [1, 2] } });
    result.added.deep.push(3);
    assert.deepEqual(patch.added.deep, [1, 2]);
  });

  it('keeps a __proto__ key as data instead of changing the prototype', () => {
    const result = applyMergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(result), Object.prototype);
    assert.deepEqual(Object.keys(result), ['__proto__']);
  });
});

describe('createMergePatch', () => {
  const cases: [unknown, unknown][] = [
    [{ a: 1, b: { c: 2, d: 3 } }, { a: 1, b: { c: 4 }, e: [1] }],
    [{ list: [1, 2] }, { list: [2] }],
    [{ a: 'x' }, {}],
    [{}, { a: { b: { c: 1 } } }],
  ];
  for (const [from, to] of cases) {
    it(`round-trips ${JSON.stringify(from)} → ${JSON.stringify(to)}`, () => {
      assert.deepEqual(applyMergePatch(from, createMergePatch(from, to)), to);
    });
  }

  it('is empty for equal documents', () => {
    assert.deepEqual(createMergePatch({ a: { b: [1] } }, { a: { b: [1] } }), {});
  });
});

describe('deepEqual', () => {
  it('ignores key order and compares arrays in order', () => {
    assert.ok(deepEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
    assert.ok(!deepEqual([1, 2], [2, 1]));
    assert.ok(!deepEqual({ a: undefined }, {}));
    assert.ok(!deepEqual({ a: 1 }, { a: 1, b: 2 }));
  });
});
