// Kubernetes label selectors: the text form both backends accept in list and
// watch (`a=b,c!=d,e in (f,g),h notin (i),j,!k`), parsed once and matched
// against an object's labels. Semantics follow apimachinery's labels
// package: `!=` and `notin` also match objects without the label.
import { AmbitError } from '@ambit/core';

export type SelectorOperator = 'exists' | 'not-exists' | 'equals' | 'not-equals' | 'in' | 'not-in';

export interface Requirement {
  key: string;
  operator: SelectorOperator;
  /** Empty for `exists` / `not-exists`. */
  values: readonly string[];
}

export class LabelSelector {
  /** Matches every object. */
  static readonly everything = new LabelSelector([]);

  private constructor(readonly requirements: readonly Requirement[]) {}

  /** Parses the text form; an empty or blank string selects everything. */
  static parse(text: string): LabelSelector {
    return new LabelSelector(new Parser(text).parse());
  }

  /** The selector of a `matchLabels` map: every pair must be present. */
  static fromLabels(labels: Readonly<Record<string, string>>): LabelSelector {
    return new LabelSelector(Object.entries(labels).map(([key, value]) => ({ key, operator: 'equals', values: [value] })));
  }

  get empty(): boolean {
    return this.requirements.length === 0;
  }

  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    return this.requirements.every((requirement) => matchesRequirement(requirement, labels ?? {}));
  }

  toString(): string {
    return this.requirements.map(formatRequirement).join(',');
  }
}

/** Parses `text` (memoised for the last few selectors, since watches reuse them). */
export function parseSelector(text: string | undefined): LabelSelector {
  if (text === undefined || text.trim() === '') return LabelSelector.everything;
  const cached = cache.get(text);
  if (cached !== undefined) return cached;
  const selector = LabelSelector.parse(text);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value ?? '');
  cache.set(text, selector);
  return selector;
}

/** Why `key` is not a valid label key, or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `prefix "${prefix}" must be a DNS subdomain (lowercase letters, digits, '-' and '.')`;
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `name "${name}" must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `value "${value}" must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

// --- implementation ---------------------------------------------------------------

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CACHE_SIZE = 64;
const cache = new Map<string, LabelSelector>();

function matchesRequirement(requirement: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = has ? labels[requirement.key] : undefined;
  switch (requirement.operator) {
    case 'exists': return has;
    case 'not-exists': return !has;
    case 'equals':
    case 'in': return value !== undefined && requirement.values.includes(value);
    case 'not-equals':
    case 'not-in': return value === undefined || !requirement.values.includes(value);
  }
}

function formatRequirement(requirement: Requirement): string {
  switch (requirement.operator) {
    case 'exists': return requirement.key;
    case 'not-exists': return `!${requirement.key}`;
    case 'equals': return `${requirement.key}=${requirement.values[0] ?? ''}`;
    case 'not-equals': return `${requirement.key}!=${requirement.values[0] ?? ''}`;
    case 'in': return `${requirement.key} in (${requirement.values.join(',')})`;
    case 'not-in': return `${requirement.key} notin (${requirement.values.join(',')})`;
  }
}

type TokenType = 'word' | '!' | '=' | '==' | '!=' | '(' | ')' | ',' | 'end';

interface Token {
  type: TokenType;
  text: string;
  /** 0-based offset in the selector text. */
  at: number;
}

// Characters that end a word; everything else (letters, digits, '-', '_', '.', '/') belongs to one.
const SPECIAL = new Set(['!', '=', '(', ')', ',', ' ', '\t', '\n', '\r']);

class Parser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): Requirement[] {
    const requirements: Requirement[] = [];
    if (this.peek().type === 'end') return requirements;
    for (;;) {
      requirements.push(this.requirement());
      const next = this.take();
      if (next.type === 'end') return requirements;
      if (next.type !== ',') this.fail(next, `expected ',' or the end after a requirement`);
    }
  }

  private requirement(): Requirement {
    const first = this.take();
    if (first.type === '!') {
      const key = this.key(this.take());
      return { key, operator: 'not-exists', values: [] };
    }
    const key = this.key(first);
    const op = this.peek();
    switch (op.type) {
      case ',':
      case 'end':
        return { key, operator: 'exists', values: [] };
      case '=':
      case '==':
      case '!=': {
        this.take();
        return { key, operator: op.type === '!=' ? 'not-equals' : 'equals', values: [this.value()] };
      }
      case 'word':
        if (op.text === 'in' || op.text === 'notin') {
          this.take();
          return { key, operator: op.text === 'in' ? 'in' : 'not-in', values: this.set(op) };
        }
        return this.fail(op, `unknown operator "${op.text}" after key "${key}" (use =, ==, !=, in or notin)`);
      default:
        return this.fail(op, `expected an operator after key "${key}" (=, ==, !=, in, notin) or ','`);
    }
  }

  private key(token: Token): string {
    if (token.type !== 'word') this.fail(token, 'expected a label key');
    const problem = labelKeyProblem(token.text);
    if (problem !== undefined) this.fail(token, `invalid label key "${token.text}": ${problem}`);
    return token.text;
  }

  private value(): string {
    const token = this.peek();
    if (token.type === ',' || token.type === 'end' || token.type === ')') return '';
    this.take();
    if (token.type !== 'word') this.fail(token, 'expected a label value');
    const problem = labelValueProblem(token.text);
    if (problem !== undefined) this.fail(token, `invalid label ${problem}`);
    return token.text;
  }

  private set(operator: Token): string[] {
    const open = this.take();
    if (open.type !== '(') this.fail(open, `expected '(' after "${operator.text}"`);
    const values: string[] = [];
    for (;;) {
      const value = this.value();
      const next = this.take();
      if (next.type === ')') {
        if (value !== '' || values.length > 0) values.push(value);
        break;
      }
      if (next.type !== ',') this.fail(next, `expected ',' or ')' in the value set of "${operator.text}"`);
      values.push(value);
    }
    if (values.length === 0) this.fail(open, `"${operator.text}" needs at least one value`);
    return values;
  }

  private peek(): Token {
    return this.tokens[this.index] ?? { type: 'end', text: '', at: this.text.length };
  }

  private take(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length) this.index++;
    return token;
  }

  private fail(token: Token, reason: string): never {
    const where = token.type === 'end' ? 'at the end' : `at position ${token.at + 1} ("${token.text}")`;
    throw new AmbitError('invalid-argument', `label selector "${this.text}": ${reason}, ${where}`, {
      hint: 'selectors look like a=b,c!=d,e in (f,g),h notin (i),j,!k',
      details: { selector: this.text, position: token.at },
    });
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '!' || c === '=') {
      const two = text[i + 1] === '=';
      const type: TokenType = c === '!' ? (two ? '!=' : '!') : (two ? '==' : '=');
      tokens.push({ type, text: type, at: i });
      i += two ? 2 : 1;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ type: c, text: c, at: i });
      i++;
    } else {
      const start = i;
      while (i < text.length && !SPECIAL.has(text[i] ?? '')) i++;
      tokens.push({ type: 'word', text: text.slice(start, i), at: start });
    }
  }
  return tokens;
}
