// A safe evaluator for the subset of CEL (https://github.com/google/cel-spec) that daprd's routing
// rules (`event.type == "order" && event.data.total > 100`) and circuit-breaker trips
// (`consecutiveFailures >= 5`) use. It compiles to a tree up front, so an expression outside the
// subset fails when the subscription or policy is loaded, never silently at delivery.
//
// Supported: literals (numbers, "strings"/'strings', true, false, null, [lists]), variables,
// field selection (a.b), indexing (a["b"], a[0]), ! and unary -, == != < <= > >=, in, && || with
// CEL's error-absorbing semantics, ?:, has(a.b), size(x), x.size(), x.startsWith/endsWith/contains(s).
// Runtime errors follow CEL: a missing key or a type mismatch is an error, not false.

export class CelError extends Error {
  override name = 'CelError';
}

type Value = unknown;
type RelationalOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in';

type Node =
  | { kind: 'literal'; value: Value }
  | { kind: 'variable'; name: string }
  | { kind: 'select'; target: Node; field: string }
  | { kind: 'index'; target: Node; index: Node }
  | { kind: 'has'; target: Node; field: string }
  | { kind: 'call'; name: string; receiver: Node | undefined; args: Node[] }
  | { kind: 'list'; items: Node[] }
  | { kind: 'not'; operand: Node }
  | { kind: 'negate'; operand: Node }
  | { kind: 'relation'; op: RelationalOp; left: Node; right: Node }
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'conditional'; condition: Node; then: Node; otherwise: Node };

type Token =
  | { type: 'number'; value: number; at: number }
  | { type: 'string'; value: string; at: number }
  | { type: 'ident'; value: string; at: number }
  | { type: 'punct'; value: string; at: number }
  | { type: 'end'; at: number };

const PUNCTUATION = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '-', '(', ')', '[', ']', '.', ',', '?', ':'];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '`': '`', '?': '?' };
const METHODS = new Set(['size', 'startsWith', 'endsWith', 'contains']);
const FUNCTIONS = new Set(['size']);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < source.length) {
    const char = source.charAt(at);
    if (/\s/.test(char)) {
      at += 1;
      continue;
    }
    const number = /^(?:\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)/.exec(source.slice(at));
    if (number) {
      tokens.push({ type: 'number', value: Number(number[0]), at });
      at += number[0].length;
      continue;
    }
    if (char === '"' || char === "'") {
      const [value, next] = readString(source, at);
      tokens.push({ type: 'string', value, at });
      at = next;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(at));
    if (ident) {
      tokens.push({ type: 'ident', value: ident[0], at });
      at += ident[0].length;
      continue;
    }
    const punct = PUNCTUATION.find((candidate) => source.startsWith(candidate, at));
    if (!punct) throw new CelError(`unsupported character ${JSON.stringify(char)} at position ${at} in ${JSON.stringify(source)}`);
    tokens.push({ type: 'punct', value: punct, at });
    at += punct.length;
  }
  tokens.push({ type: 'end', at });
  return tokens;
}

function readString(source: string, start: number): [string, number] {
  const quote = source.charAt(start);
  let value = '';
  for (let at = start + 1; at < source.length; at += 1) {
    const char = source.charAt(at);
    if (char === quote) return [value, at + 1];
    if (char === '\\') {
      const escaped = ESCAPES[source.charAt(at + 1)];
      if (escaped === undefined) throw new CelError(`unsupported escape \\${source.charAt(at + 1)} at position ${at} in ${JSON.stringify(source)}`);
      value += escaped;
      at += 1;
      continue;
    }
    value += char;
  }
  throw new CelError(`unterminated string starting at position ${start} in ${JSON.stringify(source)}`);
}

/** Recursive-descent parser over CEL's precedence levels: ?: then || then && then relations then unary then member. */
class Parser {
  readonly #tokens: Token[];
  readonly #source: string;
  readonly #variables: ReadonlySet<string>;
  #position = 0;

  constructor(source: string, variables: ReadonlySet<string>) {
    this.#source = source;
    this.#tokens = tokenize(source);
    this.#variables = variables;
  }

  parse(): Node {
    const node = this.#conditional();
    const next = this.#peek();
    if (next.type !== 'end') this.#fail(next, 'unexpected input');
    return node;
  }

  #peek(): Token {
    return this.#tokens[this.#position] ?? { type: 'end', at: this.#source.length };
  }

  #take(): Token {
    const token = this.#peek();
    this.#position += 1;
    return token;
  }

  #accept(punct: string): boolean {
    const token = this.#peek();
    if (token.type === 'punct' && token.value === punct) {
      this.#position += 1;
      return true;
    }
    return false;
  }

  #expect(punct: string): void {
    if (!this.#accept(punct)) this.#fail(this.#peek(), `expected "${punct}"`);
  }

  #fail(token: Token, message: string): never {
    const found = token.type === 'end' ? 'end of expression' : JSON.stringify(String(token.value));
    throw new CelError(`${message} at position ${token.at} (found ${found}) in ${JSON.stringify(this.#source)}`);
  }

  #conditional(): Node {
    const condition = this.#or();
    if (!this.#accept('?')) return condition;
    const then = this.#or();
    this.#expect(':');
    return { kind: 'conditional', condition, then, otherwise: this.#conditional() };
  }

  #or(): Node {
    let node = this.#and();
    while (this.#accept('||')) node = { kind: 'or', left: node, right: this.#and() };
    return node;
  }

  #and(): Node {
    let node = this.#relation();
    while (this.#accept('&&')) node = { kind: 'and', left: node, right: this.#relation() };
    return node;
  }

  #relation(): Node {
    let node = this.#unary();
    for (;;) {
      const token = this.#peek();
      const op = token.type === 'punct' && ['==', '!=', '<', '<=', '>', '>='].includes(token.value) ? token.value : token.type === 'ident' && token.value === 'in' ? 'in' : undefined;
      if (!op) return node;
      this.#position += 1;
      node = { kind: 'relation', op: op as RelationalOp, left: node, right: this.#unary() };
    }
  }

  #unary(): Node {
    if (this.#accept('!')) return { kind: 'not', operand: this.#unary() };
    if (this.#accept('-')) return { kind: 'negate', operand: this.#unary() };
    return this.#member();
  }

  #member(): Node {
    let node = this.#primary();
    for (;;) {
      if (this.#accept('.')) {
        const field = this.#take();
        if (field.type !== 'ident') this.#fail(field, 'expected a field name');
        if (this.#accept('(')) {
          if (!METHODS.has(field.value)) this.#fail(field, `unsupported method ${field.value}()`);
          node = { kind: 'call', name: field.value, receiver: node, args: this.#arguments() };
        } else {
          node = { kind: 'select', target: node, field: field.value };
        }
      } else if (this.#accept('[')) {
        const index = this.#conditional();
        this.#expect(']');
        node = { kind: 'index', target: node, index };
      } else {
        return node;
      }
    }
  }

  #arguments(): Node[] {
    const args: Node[] = [];
    if (this.#accept(')')) return args;
    do args.push(this.#conditional());
    while (this.#accept(','));
    this.#expect(')');
    return args;
  }

  #primary(): Node {
    const token = this.#take();
    if (token.type === 'number' || token.type === 'string') return { kind: 'literal', value: token.value };
    if (token.type === 'punct' && token.value === '(') {
      const inner = this.#conditional();
      this.#expect(')');
      return inner;
    }
    if (token.type === 'punct' && token.value === '[') {
      const items = this.#accept(']') ? [] : this.#listItems();
      return { kind: 'list', items };
    }
    if (token.type !== 'ident') this.#fail(token, 'expected a value');
    if (token.value === 'true' || token.value === 'false') return { kind: 'literal', value: token.value === 'true' };
    if (token.value === 'null') return { kind: 'literal', value: null };
    if (this.#accept('(')) return this.#functionCall(token);
    if (!this.#variables.has(token.value)) this.#fail(token, `unknown variable ${token.value} (available: ${[...this.#variables].join(', ')})`);
    return { kind: 'variable', name: token.value };
  }

  #listItems(): Node[] {
    const items: Node[] = [];
    do items.push(this.#conditional());
    while (this.#accept(','));
    this.#expect(']');
    return items;
  }

  #functionCall(name: Token & { type: 'ident' }): Node {
    if (name.value === 'has') {
      const argument = this.#conditional();
      this.#expect(')');
      if (argument.kind !== 'select') this.#fail(name, 'has() takes a field selection such as has(event.data.id)');
      return { kind: 'has', target: argument.target, field: argument.field };
    }
    if (!FUNCTIONS.has(name.value)) this.#fail(name, `unsupported function ${name.value}()`);
    return { kind: 'call', name: name.value, receiver: undefined, args: this.#arguments() };
  }
}

const isMap = (value: Value): value is Record<string, Value> => typeof value === 'object' && value !== null && !Array.isArray(value);

function typeName(value: Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (isMap(value)) return 'map';
  return typeof value === 'number' ? 'double' : typeof value === 'boolean' ? 'bool' : typeof value;
}

function equal(left: Value, right: Value): boolean {
  if (Array.isArray(left) && Array.isArray(right)) return left.length === right.length && left.every((item, i) => equal(item, right[i]));
  if (isMap(left) && isMap(right)) {
    const keys = Object.keys(left);
    return keys.length === Object.keys(right).length && keys.every((key) => key in right && equal(left[key], right[key]));
  }
  return left === right;
}

function compare(op: '<' | '<=' | '>' | '>=', left: Value, right: Value): boolean {
  const comparable = (typeof left === 'number' && typeof right === 'number') || (typeof left === 'string' && typeof right === 'string') || (typeof left === 'boolean' && typeof right === 'boolean');
  if (!comparable) throw new CelError(`no such overload: ${typeName(left)} ${op} ${typeName(right)}`);
  const [a, b] = [left as number, right as number];
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

function boolOf(value: Value, operator: string): boolean {
  if (typeof value !== 'boolean') throw new CelError(`no such overload: ${operator} applied to ${typeName(value)}`);
  return value;
}

function select(target: Value, field: string): Value {
  if (!isMap(target)) throw new CelError(`no such key: ${field} (selected from ${typeName(target)})`);
  if (!Object.hasOwn(target, field)) throw new CelError(`no such key: ${field}`);
  return target[field];
}

function index(target: Value, key: Value): Value {
  if (Array.isArray(target)) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= target.length) throw new CelError(`index out of range: ${String(key)}`);
    return target[key];
  }
  if (typeof key !== 'string') throw new CelError(`no such overload: ${typeName(target)}[${typeName(key)}]`);
  return select(target, key);
}

function size(value: Value): number {
  if (typeof value === 'string') return Array.from(value).length;
  if (Array.isArray(value)) return value.length;
  if (isMap(value)) return Object.keys(value).length;
  throw new CelError(`no such overload: size(${typeName(value)})`);
}

function call(name: string, receiver: Value, args: Value[]): Value {
  if (name === 'size') return size(receiver);
  const [argument] = args;
  if (typeof receiver !== 'string' || typeof argument !== 'string' || args.length !== 1) {
    throw new CelError(`no such overload: ${typeName(receiver)}.${name}(${args.map(typeName).join(', ')})`);
  }
  return name === 'startsWith' ? receiver.startsWith(argument) : name === 'endsWith' ? receiver.endsWith(argument) : receiver.includes(argument);
}

/** `&&` and `||` are commutative in CEL: a decisive operand wins even when the other one errs. */
function logical(kind: 'and' | 'or', left: () => Value, right: () => Value): boolean {
  const decisive = kind === 'or';
  const operand = (read: () => Value): boolean | Error => {
    try {
      return boolOf(read(), kind === 'and' ? '&&' : '||');
    } catch (error) {
      return error instanceof Error ? error : new CelError(String(error));
    }
  };
  const a = operand(left);
  if (a === decisive) return decisive;
  const b = operand(right);
  if (b === decisive) return decisive;
  if (a instanceof Error) throw a;
  if (b instanceof Error) throw b;
  return !decisive;
}

function evaluate(node: Node, variables: Readonly<Record<string, Value>>): Value {
  const run = (child: Node) => evaluate(child, variables);
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'variable':
      if (!Object.hasOwn(variables, node.name)) throw new CelError(`undeclared reference to ${node.name}`);
      return variables[node.name];
    case 'select':
      return select(run(node.target), node.field);
    case 'index':
      return index(run(node.target), run(node.index));
    case 'has': {
      const target = run(node.target);
      if (!isMap(target)) throw new CelError(`has() applied to ${typeName(target)}`);
      return Object.hasOwn(target, node.field);
    }
    case 'call': {
      const args = node.args.map(run);
      if (node.receiver) return call(node.name, run(node.receiver), args);
      if (args.length !== 1) throw new CelError(`${node.name}() takes one argument`);
      return call(node.name, args[0], []);
    }
    case 'list':
      return node.items.map(run);
    case 'not':
      return !boolOf(run(node.operand), '!');
    case 'negate': {
      const value = run(node.operand);
      if (typeof value !== 'number') throw new CelError(`no such overload: -${typeName(value)}`);
      return -value;
    }
    case 'relation':
      return relation(node.op, run(node.left), run(node.right));
    case 'and':
    case 'or':
      return logical(node.kind, () => run(node.left), () => run(node.right));
    case 'conditional':
      return boolOf(run(node.condition), '?:') ? run(node.then) : run(node.otherwise);
  }
}

function relation(op: RelationalOp, left: Value, right: Value): boolean {
  switch (op) {
    case '==':
      return equal(left, right);
    case '!=':
      return !equal(left, right);
    case 'in':
      if (Array.isArray(right)) return right.some((item) => equal(item, left));
      if (isMap(right) && typeof left === 'string') return Object.hasOwn(right, left);
      throw new CelError(`no such overload: ${typeName(left)} in ${typeName(right)}`);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compare(op, left, right);
  }
}

export interface CelProgram {
  readonly source: string;
  /** The expression's value; throws CelError as CEL would report an evaluation error. */
  evaluate(variables: Readonly<Record<string, unknown>>): unknown;
}

/** Parses `source`, accepting only the given variable names; throws CelError with the position of the problem. */
export function compileCel(source: string, variables: readonly string[]): CelProgram {
  const tree = new Parser(source, new Set(variables)).parse();
  return { source, evaluate: (values) => evaluate(tree, values) };
}
