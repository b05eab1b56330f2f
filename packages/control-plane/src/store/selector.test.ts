import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { LabelSelector, parseSelector, labelKeyProblem, labelValueProblem } from './selector.js';

const labels = { app: 'echo', tier: 'front', 'ambit.dev/dataplane-mode': 'ambient', empty: '' };

describe('label selector matching', () => {
  const table: [string, boolean][] = [
    ['', true],
    ['   ', true],
    ['app=echo', true],
    ['app==echo', true],
    ['app = echo', true],
    ['app=other', false],
    ['app!=other', true],
    ['app!=echo', false],
    ['missing!=x', true],
    ['app in (echo,other)', true],
    ['app in ( other , echo )', true],
    ['app in (other)', false],
    ['missing in (x)', false],
    ['app notin (other)', true],
    ['app notin (echo)', false],
    ['missing notin (x)', true],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['! app', false],
    ['ambit.dev/dataplane-mode=ambient', true],
    ['ambit.dev/dataplane-mode in (none)', false],
    ['app=echo,tier=front', true],
    ['app=echo,tier=back', false],
    ['app=echo, !missing, tier notin (back), ambit.dev/dataplane-mode', true],
    ['empty=', true],
    ['empty', true],
    ['empty in (,x)', true],
    ['app=', false],
  ];
  for (const [selector, expected] of table) {
    it(`"${selector}" ${expected ? 'matches' : 'does not match'}`, () => {
      assert.equal(parseSelector(selector).matches(labels), expected);
    });
  }

  it('treats missing labels as an empty map', () => {
    assert.ok(parseSelector('a!=b,!c').matches(undefined));
    assert.ok(!parseSelector('a').matches(undefined));
  });

  it('builds a selector from matchLabels', () => {
    const selector = LabelSelector.fromLabels({ app: 'echo', tier: 'front' });
    assert.ok(selector.matches(labels));
    assert.ok(!selector.matches({ app: 'echo' }));
    assert.equal(selector.toString(), 'app=echo,tier=front');
    assert.ok(LabelSelector.fromLabels({}).empty);
  });

  it('prints a canonical form that parses back to the same selector', () => {
    const text = 'a=b,c!=d,e in (f,g),h notin (i),j,!k';
    assert.equal(LabelSelector.parse(' a==b , c != d,e in(f, g),h notin (i),j,! k').toString(), text);
    assert.equal(LabelSelector.parse(text).toString(), text);
  });
});

describe('label selector errors', () => {
  const bad: [string, RegExp][] = [
    ['app in (a', /expected ',' or '\)'.*at the end/],
    ['app in a', /expected '\(' after "in"/],
    ['app in ()', /"in" needs at least one value/],
    ['app notin', /expected '\(' after "notin"/],
    ['app ~ x', /unknown operator "~"/],
    ['app=echo tier=front', /expected ',' or the end.*position 10/],
    ['=x', /expected a label key, at position 1/],
    ['!', /expected a label key, at the end/],
    ['app=a,', /expected a label key, at the end/],
    ['Bad_Prefix/app=x', /invalid label key "Bad_Prefix\/app"/],
    ['-app=x', /invalid label key "-app"/],
    ['app=-x', /invalid label value "-x"/],
    [`app=${'x'.repeat(64)}`, /at most 63 characters/],
    ['app=(x)', /expected a label value/],
  ];
  for (const [selector, message] of bad) {
    it(`refuses "${selector.length > 30 ? `${selector.slice(0, 30)}…` : selector}"`, () => {
      assert.throws(() => LabelSelector.parse(selector), (error: unknown) => {
        assert.ok(error instanceof AmbitError);
        assert.equal(error.code, 'invalid-argument');
        assert.match(error.message, message);
        assert.ok(error.message.includes(selector), 'the message quotes the selector');
        return true;
      });
    });
  }
});

describe('label keys and values', () => {
  it('accepts Kubernetes label keys and values', () => {
    for (const key of ['app', 'app.kubernetes.io/name', 'A_b.c-d', 'x/y']) assert.equal(labelKeyProblem(key), undefined, key);
    for (const value of ['', 'v1', 'A.b_c-d']) assert.equal(labelValueProblem(value), undefined, value);
  });

  it('refuses malformed keys and values', () => {
    for (const key of ['', '/app', 'UPPER/app', 'app/', 'a/b/c', `${'a'.repeat(64)}`]) assert.ok(labelKeyProblem(key) !== undefined, key);
    for (const value of ['-a', 'a-', 'a b', 'a/b']) assert.ok(labelValueProblem(value) !== undefined, value);
  });
});
