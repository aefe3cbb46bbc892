// A strict parser of the OpenMetrics text format (https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md),
// as the services serve /metrics: no parser package is installed, and a line split on spaces
// would accept output a Prometheus server rejects. Any line it does not understand is an error.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: { labels: Record<string, string>; value: number };
}

export interface MetricFamily {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'stateset', 'info', 'unknown']);
const SUFFIXES: Record<string, string[]> = {
  counter: ['_total', '_created'],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  gaugehistogram: ['_gcount', '_gsum', '_bucket'],
  summary: ['_count', '_sum', '_created', ''],
  info: ['_info'],
  gauge: [''],
  stateset: [''],
  unknown: [''],
};

class Cursor {
  position = 0;
  readonly line: string;
  readonly lineNumber: number;
  constructor(line: string, lineNumber: number) {
    this.line = line;
    this.lineNumber = lineNumber;
  }
  fail(message: string): never {
    throw new Error(`OpenMetrics line ${this.lineNumber}, column ${this.position + 1}: ${message}: ${JSON.stringify(this.line)}`);
  }
  rest(): string {
    return this.line.slice(this.position);
  }
  take(pattern: RegExp, what: string): string {
    const match = pattern.exec(this.rest());
    if (!match) this.fail(`expected ${what}`);
    this.position += match[0].length;
    return match[0];
  }
  expect(text: string): void {
    if (!this.rest().startsWith(text)) this.fail(`expected ${JSON.stringify(text)}`);
    this.position += text.length;
  }
  done(): boolean {
    return this.position >= this.line.length;
  }
}

function parseNumber(text: string, cursor: Cursor): number {
  // The spec's ABNF takes inf, infinity and nan in any case (prom-client writes "Nan").
  const word = text.toLowerCase();
  if (/^\+?inf(inity)?$/.test(word)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/.test(word)) return Number.NEGATIVE_INFINITY;
  if (word === 'nan') return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) cursor.fail(`not a number: ${text}`);
  return Number(text);
}

function parseLabels(cursor: Cursor): Record<string, string> {
  const labels: Record<string, string> = {};
  cursor.expect('{');
  while (!cursor.rest().startsWith('}')) {
    const name = cursor.take(LABEL_NAME, 'a label name');
    if (name in labels) cursor.fail(`label ${name} repeated`);
    cursor.expect('="');
    let value = '';
    for (;;) {
      const char = cursor.line[cursor.position];
      if (char === undefined) cursor.fail('unterminated label value');
      cursor.position += 1;
      if (char === '"') break;
      if (char === '\\') {
        const escaped = cursor.line[cursor.position];
        cursor.position += 1;
        if (escaped === 'n') value += '\n';
        else if (escaped === '\\' || escaped === '"') value += escaped;
        else cursor.fail(`bad escape \\${escaped ?? ''}`);
      } else value += char;
    }
    labels[name] = value;
    if (cursor.rest().startsWith(',')) cursor.expect(',');
    else if (!cursor.rest().startsWith('}')) cursor.fail('expected "," or "}"');
  }
  cursor.expect('}');
  return labels;
}

/** Parses a whole exposition; throws on the first line that breaks the format. */
export function parseOpenMetrics(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.at(-1) !== '# EOF') throw new Error('OpenMetrics exposition does not end with "# EOF"');
  let current: MetricFamily | undefined;
  for (const [index, line] of lines.slice(0, -1).entries()) {
    const cursor = new Cursor(line, index + 1);
    if (line.startsWith('#')) {
      cursor.expect('# ');
      const keyword = cursor.take(/^(TYPE|HELP|UNIT) /, 'TYPE, HELP or UNIT').trim();
      const name = cursor.take(NAME, 'a metric family name');
      cursor.expect(' ');
      const rest = cursor.rest();
      let family = families.get(name);
      if (!family) {
        family = { name, type: 'unknown', samples: [] };
        families.set(name, family);
      } else if (current !== family) cursor.fail(`metric family ${name} is not contiguous`);
      current = family;
      if (keyword === 'TYPE') {
        if (!TYPES.has(rest)) cursor.fail(`unknown type ${rest}`);
        family.type = rest;
      } else if (keyword === 'HELP') family.help = rest;
      continue;
    }
    const name = cursor.take(NAME, 'a metric name');
    if (!current) return cursor.fail('a sample before any metric family');
    const suffix = name.slice(current.name.length);
    if (!name.startsWith(current.name) || !(SUFFIXES[current.type] ?? ['']).includes(suffix)) cursor.fail(`sample ${name} does not belong to family ${current.name} (${current.type})`);
    const labels = cursor.rest().startsWith('{') ? parseLabels(cursor) : {};
    cursor.expect(' ');
    const value = parseNumber(cursor.take(/^\S+/, 'a value'), cursor);
    const sample: Sample = { name, labels, value };
    if (!cursor.done() && !cursor.rest().startsWith(' # ')) {
      cursor.expect(' ');
      parseNumber(cursor.take(/^\S+/, 'a timestamp'), cursor);
    }
    if (!cursor.done()) {
      cursor.expect(' # ');
      const exemplarLabels = parseLabels(cursor);
      cursor.expect(' ');
      sample.exemplar = { labels: exemplarLabels, value: parseNumber(cursor.take(/^\S+/, 'an exemplar value'), cursor) };
      if (!cursor.done()) {
        cursor.expect(' ');
        parseNumber(cursor.take(/^\S+/, 'an exemplar timestamp'), cursor);
      }
      if (!cursor.done()) cursor.fail('unexpected text after the exemplar');
    }
    current.samples.push(sample);
  }
  return families;
}

/** The value of the one sample named `name` whose labels include `labels`; throws when there is none or more than one. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const matches = [...families.values()].flatMap((family) => family.samples).filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (matches.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${matches.length}`);
  return (matches[0] as Sample).value;
}
