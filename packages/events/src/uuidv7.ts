import { randomBytes } from 'node:crypto';

// UUID version 7 (RFC 9562, section 5.7): a 48-bit Unix-millisecond timestamp, then a 12-bit
// counter (method 1 of section 6.2) and 62 random bits. Ids made by one process sort in the order
// they were made, also within one millisecond, which is what the outbox's creation order needs.

let lastMs = 0;
let counter = 0;

export function uuidv7(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = 0;
  } else {
    counter += 1;
    // 4096 ids in one millisecond: borrow the next one, so the order still holds.
    if (counter > 0xfff) {
      lastMs += 1;
      counter = 0;
    }
    ms = lastMs;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
