import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderModifier } from '@ambit/api';
import { applyModifier } from './header-modifier.js';
import type { HeaderMap } from './exchange.js';

describe('header modifiers', () => {
  const cases: [string, HeaderMap, HeaderModifier, HeaderMap][] = [
    ['set replaces', { a: '1' }, { set: [{ name: 'A', value: '2' }] }, { a: '2' }],
    ['set adds', {}, { set: [{ name: 'b', value: '1' }] }, { b: '1' }],
    ['add appends', { a: '1' }, { add: [{ name: 'a', value: '2' }] }, { a: ['1', '2'] }],
    ['add to a list', { a: ['1', '2'] }, { add: [{ name: 'a', value: '3' }] }, { a: ['1', '2', '3'] }],
    ['remove', { a: '1', b: '2' }, { remove: ['A'] }, { b: '2' }],
    ['set, add then remove', { a: '1' }, { set: [{ name: 'a', value: 's' }], add: [{ name: 'a', value: 't' }], remove: ['x'] }, { a: ['s', 't'] }],
  ];
  for (const [name, input, modifier, expected] of cases) {
    it(name, () => {
      const before = structuredClone(input);
      assert.deepEqual(applyModifier(input, modifier), expected);
      assert.deepEqual(input, before, 'the input is not changed');
    });
  }
});
