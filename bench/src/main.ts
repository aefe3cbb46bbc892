// `pnpm bench`: every benchmark, one after the other (`pnpm bench workflow` runs only the named ones).
// Each module exports `run()`, prints its figures and writes bench/results/<name>.md.

const benchmarks: { name: string; load: () => Promise<{ run(): Promise<void> }> }[] = [
  { name: 'workflow', load: () => import('./workflow.ts') },
  { name: 'invocation', load: () => import('./invocation.ts') },
  { name: 'gateway', load: () => import('./gateway.ts') },
  { name: 'saga', load: () => import('./saga.ts') },
  { name: 'stack', load: () => import('./stack.ts') },
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !benchmarks.some((benchmark) => benchmark.name === name));
if (unknown.length > 0) throw new Error(`no benchmark ${unknown.join(', ')}; known: ${benchmarks.map((benchmark) => benchmark.name).join(', ')}`);
for (const benchmark of benchmarks) {
  if (wanted.length > 0 && !wanted.includes(benchmark.name)) continue;
  process.stdout.write(`\n== ${benchmark.name} ==\n`);
  await (await benchmark.load()).run();
}
