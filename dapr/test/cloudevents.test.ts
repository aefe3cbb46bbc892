import { describe, expect, it } from 'vitest';
import { parseJsonPrecise } from '../src/app-channel/cloudevents.ts';

// Event data is parsed as daprd decodes it (Go's UseNumber): integers beyond 2^53 stay exact when
// the envelope is serialized again.

describe('parseJsonPrecise', () => {
  it('keeps integers beyond 2^53 exact, wherever they are', () => {
    const text = '{"id":12345678901234567890,"nested":{"list":[-98765432109876543210,1.5,7]},"safe":9007199254740991}';
    expect(JSON.stringify(parseJsonPrecise(text))).toBe(text);
  });

  it('parses everything else as JSON.parse does, long digit runs in strings included', () => {
    for (const text of ['{"a":1,"b":[true,null,"x"],"c":{"d":2.25}}', '{"card":"4242424242424242424242","n":3}', '"plain"', '[]']) {
      expect(parseJsonPrecise(text)).toEqual(JSON.parse(text));
    }
  });
});
