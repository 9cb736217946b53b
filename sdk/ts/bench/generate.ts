// Rewrites the committed workloads from their seeds: npm run bench:generate
// (bench/workloads/factory-shift.jsonl.gz and factory-shift-quick.jsonl.gz; the same bytes on every run).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { FULL, QUICK, generate } from './generate-workload.js';
import { formatWorkload } from './workload.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'workloads');
for (const [file, opts] of [
  ['factory-shift.jsonl.gz', FULL],
  ['factory-shift-quick.jsonl.gz', QUICK],
] as const) {
  const text = formatWorkload(generate(opts));
  // No name or mtime in the gzip header (zlib writes none): the same text gives the same bytes.
  const gz = gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
  writeFileSync(join(dir, file), gz);
  console.log(`wrote bench/workloads/${file}: ${text.split('\n').length - 2} records, ${text.length} bytes (${gz.length} gzipped)`);
}
