// `pnpm bench`: every benchmark, one after the other (`pnpm bench workflow` runs only the named ones).
// Each module exports `run()`, prints its figures and writes bench/results/<name>.md.

const benchmarks: { name: string; load: () => Promise<{ run(): Promise<void> }> }[] = [{ name: 'workflow', load: () => import('./workflow.ts') }];

const wanted = process.argv.slice(2);
for (const benchmark of benchmarks) {
  if (wanted.length > 0 && !wanted.includes(benchmark.name)) continue;
  process.stdout.write(`\n== ${benchmark.name} ==\n`);
  await (await benchmark.load()).run();
}
