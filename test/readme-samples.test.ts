/**
 * Every ```ts sample in the READMEs type-checks against the packages' sources, with the settings
 * the packages build with. A README is the first code a user copies: one that does not compile
 * (a renamed option, a missing type argument) is a bug.
 *
 * A sample may leave out what a reader supplies (their own types, `tables`, an `AppModule`): an HTML
 * comment right before its fence declares those, and renders as nothing.
 *
 *     <!-- sample-context
 *     type Slot = { time: string; left: number };
 *     -->
 *     ```ts
 *     …
 *
 * Each sample is checked as a module of its own, placed next to its README so that the imports it
 * names resolve the way they would in that package (`@tidesync/*` map to the workspace sources).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { workspacePackages } from '../vitest.shared.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Sample {
  readme: string;
  line: number;
  file: string;
  text: string;
}

const CONTEXT_START = '<!-- sample-context';

function samplesOf(readme: string): Sample[] {
  const lines = readFileSync(readme, 'utf8').split('\n');
  const samples: Sample[] = [];
  let context: string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === CONTEXT_START) {
      const end = lines.indexOf('-->', i);
      if (end === -1) throw new Error(`${readme}:${i + 1}: sample-context is not closed by a "-->" line`);
      context = lines.slice(i + 1, end);
      i = end;
      continue;
    }
    if (line.trim() === '') continue;
    if (line.trim() === '```ts') {
      const end = lines.indexOf('```', i + 1);
      if (end === -1) throw new Error(`${readme}:${i + 1}: unclosed code fence`);
      const body = lines.slice(i + 1, end);
      // The context goes first and the sample keeps its own line numbers after a marker line.
      const text = [...(context ?? []), '// ---- sample', ...body, 'export {};', ''].join('\n');
      samples.push({ readme, line: i + 2, file: join(dirname(readme), `README.sample-${i + 2}.ts`), text });
      i = end;
    } else if (context !== undefined) {
      throw new Error(`${readme}:${i + 1}: a sample-context must come right before a \`\`\`ts fence`);
    }
    context = undefined;
  }
  return samples;
}

const readmes = [
  join(ROOT, 'README.md'),
  ...['packages', 'examples'].flatMap((dir) =>
    readdirSync(join(ROOT, dir)).map((name) => join(ROOT, dir, name, 'README.md')).filter((path) => existsSync(path)),
  ),
];
const samples = readmes.flatMap(samplesOf);

function compilerOptions(): ts.CompilerOptions {
  const base = ts.readConfigFile(join(ROOT, 'tsconfig.base.json'), ts.sys.readFile);
  if (base.error) throw new Error(ts.flattenDiagnosticMessageText(base.error.messageText, '\n'));
  const { options, errors } = ts.convertCompilerOptionsFromJson(base.config.compilerOptions, ROOT);
  if (errors.length > 0) throw new Error(errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, '\n')).join('\n'));
  return {
    ...options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    // The Nest samples use decorators the way the Nest package builds them.
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    paths: Object.fromEntries(Object.entries(workspacePackages).map(([name, source]) => [name, [source]])),
    // Absolute targets: `paths` needs a base only to resolve relative ones.
    pathsBasePath: ROOT,
  } as ts.CompilerOptions;
}

function diagnosticsBySample(): Map<string, string[]> {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const virtual = new Map(samples.map((s) => [s.file, s.text]));
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => virtual.has(file) || fileExists.call(host, file);
  host.readFile = (file) => virtual.get(file) ?? readFile.call(host, file);
  host.getSourceFile = (file, language, ...rest) => {
    const text = virtual.get(file);
    return text !== undefined ? ts.createSourceFile(file, text, language, true) : getSourceFile.call(host, file, language, ...rest);
  };
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });
  const out = new Map<string, string[]>();
  for (const sample of samples) {
    const source = program.getSourceFile(sample.file)!;
    const markerLine = sample.text.split('\n').indexOf('// ---- sample');
    const messages = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
      const { line } = source.getLineAndCharacterOfPosition(d.start ?? 0);
      // Lines of the sample itself are reported as README lines; context lines as "context".
      const where = line > markerLine ? `${relative(ROOT, sample.readme)}:${sample.line + line - markerLine - 1}` : 'sample-context';
      return `${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    out.set(sample.file, messages);
  }
  return out;
}

describe('README samples', () => {
  const diagnostics = samples.length > 0 ? diagnosticsBySample() : new Map<string, string[]>();

  it('finds the samples of every README', () => {
    expect(samples.length).toBeGreaterThanOrEqual(10);
  });

  for (const sample of samples) {
    it(`${relative(ROOT, sample.readme)}:${sample.line} type-checks`, () => {
      expect(diagnostics.get(sample.file)).toEqual([]);
    });
  }
});
