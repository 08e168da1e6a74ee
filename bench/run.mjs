// Runs every benchmark in one process, one after the other, prints each table and rewrites
// BENCHMARKS.md. Every figure is a ratio against a reference measured in the same run.
//   pnpm bench                 all of them
//   pnpm bench freshness-day limiter   only the named ones (BENCHMARKS.md is left alone)
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';

const modules = ['freshness-day', 'engine-overhead', 'limiter', 'memory-storm', 'postgres-write', 'bullmq-queue'];
const only = process.argv.slice(2);

const sections = [];
for (const name of modules) {
  const url = new URL(`./${name}.mjs`, import.meta.url);
  if (!existsSync(url) || (only.length > 0 && !only.includes(name))) continue;
  const bench = await import(url.href);
  if (typeof bench.run !== 'function') continue;
  const started = performance.now();
  const out = await bench.run();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const section = `## ${out.title}\n\nReproduce: \`${out.command}\` (${seconds} s in this run)\n\n${out.markdown}\n`;
  console.log(`\n${section}`);
  sections.push(section);
}

if (only.length === 0) {
  const header = `# Benchmarks

Written by \`pnpm bench\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}).
These machines are shared and noisy: every figure is a ratio against a reference measured in the same run,
and absolute numbers are for orientation only. Each section says how to reproduce it alone.
`;
  await writeFile(new URL('../BENCHMARKS.md', import.meta.url), `${header}\n${sections.join('\n')}`);
  console.log('\nBENCHMARKS.md written.');
}
