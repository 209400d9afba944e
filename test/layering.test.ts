import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layering STYLE.md asks for, checked on the source itself: apps never import apps, contracts
 * imports nothing internal and nothing at runtime, libs never import apps, and every NATS subject
 * string lives in libs/contracts/src.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SKIP_DIRS = new Set(['node_modules', 'dist', 'coverage']);

interface ImportRef {
  specifier: string;
  /** `import type` / `export type`, or an `import('x')` type: erased at runtime. */
  typeOnly: boolean;
  line: number;
}

/** Every module a file refers to: static and dynamic imports, re-exports, require and import types. */
function importsOf(fileName: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, spec: ts.Expression | undefined, typeOnly: boolean) => {
    if (spec && ts.isStringLiteralLike(spec)) out.push({ specifier: spec.text, typeOnly, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, node.importClause?.isTypeOnly === true);
    else if (ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node, node.moduleReference.expression, node.isTypeOnly);
    else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal as ts.Expression, true);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/**
 * String literals (and template heads) whose text starts like a NATS subject of ours: `evt.`, `cmd.`
 * or `media.` followed by a letter, or by nothing at all (`media.${id}.in`, `'cmd.' + service`).
 */
function subjectLiteralsOf(fileName: string, text: string): Array<{ text: string; line: number }> {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Array<{ text: string; line: number }> = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) && /^(evt|cmd|media)\.([a-z]|$)/.test(node.text)) {
      out.push({ text: node.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name.startsWith('.') || SKIP_DIRS.has(e.name)) return [];
    const p = join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.isFile() && e.name.endsWith('.ts') ? [p] : [];
  });
}

const rel = (p: string) => relative(ROOT, p).split(sep).join('/');
const isTestFile = (p: string) => /\.test\.ts$/.test(p) || rel(p).split('/').includes('test');

const files = ['apps', 'libs', 'examples'].flatMap((d) => walk(join(ROOT, d)));
const sources = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
const appDirs = readdirSync(join(ROOT, 'apps'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(ROOT, 'apps', e.name, 'package.json')))
  .map((e) => e.name);
/** Package name → app directory, e.g. `@switchboard/media-gateway` → `media-gateway`. */
const appPackages = new Map(
  appDirs.map((d) => [(JSON.parse(readFileSync(join(ROOT, 'apps', d, 'package.json'), 'utf8')) as { name: string }).name, d]),
);

/** The app a file belongs to, or undefined. */
function appOf(absPath: string): string | undefined {
  const parts = rel(absPath).split('/');
  return parts[0] === 'apps' ? parts[1] : undefined;
}

/** The app an import points at (by relative path or by package name), or undefined. */
function importedApp(fromFile: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) return appOf(resolve(dirname(fromFile), specifier));
  for (const [pkg, dir] of appPackages) if (specifier === pkg || specifier.startsWith(`${pkg}/`)) return dir;
  return undefined;
}

function violations(check: (file: string, ref: ImportRef) => string | undefined, only: (file: string) => boolean): string[] {
  const out: string[] = [];
  for (const [file, text] of sources) {
    if (!only(file)) continue;
    for (const ref of importsOf(file, text)) {
      const why = check(file, ref);
      if (why) out.push(`${rel(file)}:${ref.line} imports '${ref.specifier}': ${why}`);
    }
  }
  return out;
}

describe('the scanners', () => {
  it.each<[string, string, Array<Pick<ImportRef, 'specifier' | 'typeOnly'>>]>([
    ['a runtime import', "import { a } from 'x';", [{ specifier: 'x', typeOnly: false }]],
    ['a type-only import', "import type { A } from 'x';", [{ specifier: 'x', typeOnly: true }]],
    // Under verbatimModuleSyntax an inline `type` still leaves `import {} from 'x'`: a runtime import.
    ['an inline type modifier', "import { type A } from 'x';", [{ specifier: 'x', typeOnly: false }]],
    ['a side-effect import', "import '../../media-gateway/src/main.ts';", [{ specifier: '../../media-gateway/src/main.ts', typeOnly: false }]],
    ['a re-export', "export { a } from './a.ts'; export type { B } from './b.ts';", [{ specifier: './a.ts', typeOnly: false }, { specifier: './b.ts', typeOnly: true }]],
    ['a star re-export', "export * from 'y';", [{ specifier: 'y', typeOnly: false }]],
    ['a dynamic import', "const m = await import('z');", [{ specifier: 'z', typeOnly: false }]],
    ['an import type expression', "let t: import('w').T;", [{ specifier: 'w', typeOnly: true }]],
    ['a require call', "const r = require('v');", [{ specifier: 'v', typeOnly: false }]],
    ['a string that only mentions an import', "const s = \"import x from 'q'\";", []],
  ])('importsOf finds %s', (_what, text, expected) => {
    expect(importsOf('x.ts', text).map(({ specifier, typeOnly }) => ({ specifier, typeOnly }))).toEqual(expected);
  });

  it.each<[string, string, string[]]>([
    ['a quoted subject', "bus.nc.subscribe('evt.call.started')", ['evt.call.started']],
    ['a double-quoted subject', 'const s = "cmd.media-gateway.hangup";', ['cmd.media-gateway.hangup']],
    ['a template subject', 'const s = `media.${id}.in`;', ['media.']],
    ['a plain template', 'const s = `cmd.x.health`;', ['cmd.x.health']],
    ['a concatenated subject', "const s = 'cmd.' + service + '.health';", ['cmd.']],
    ['a subject in a comment', '// publishes `evt.call.ended`\nconst x = 1;', []],
    ['a subject-like word inside a longer string', "const m = 'see \"media.payload\" field';", []],
    ['a file name', "const f = 'event.json';", []],
  ])('subjectLiteralsOf finds %s', (_what, text, expected) => {
    expect(subjectLiteralsOf('x.ts', text).map((l) => l.text)).toEqual(expected);
  });

  it('sees the whole tree', () => {
    expect(appDirs.length).toBeGreaterThan(0);
    expect(files.some((f) => rel(f) === 'libs/contracts/src/subjects.ts')).toBe(true);
    expect(files.some((f) => rel(f).startsWith('examples/'))).toBe(true);
    expect(files.some((f) => rel(f).includes('node_modules'))).toBe(false);
    // The contracts catalogue itself is full of subjects: the literal scan does find them.
    expect(subjectLiteralsOf('subjects.ts', sources.get(join(ROOT, 'libs/contracts/src/subjects.ts')) ?? '').length).toBeGreaterThanOrEqual(6);
  });
});

describe('layering', () => {
  it('apps never import other apps', () => {
    const found = violations(
      (file, ref) => {
        const target = importedApp(file, ref.specifier);
        return target && target !== appOf(file) ? `app ${appOf(file)} reaches into app ${target}` : undefined;
      },
      (file) => appOf(file) !== undefined,
    );
    expect(found).toEqual([]);
  });

  it('libs never import apps', () => {
    const found = violations(
      (file, ref) => {
        const target = importedApp(file, ref.specifier);
        return target ? `a lib reaches into app ${target}` : undefined;
      },
      (file) => rel(file).startsWith('libs/'),
    );
    expect(found).toEqual([]);
  });

  it('libs/contracts/src imports nothing internal and no runtime package', () => {
    const contractsSrc = join(ROOT, 'libs/contracts/src');
    const found = violations(
      (file, ref) => {
        if (ref.specifier.startsWith('@switchboard/')) return 'contracts imports nothing internal';
        if (ref.specifier.startsWith('.')) {
          const target = resolve(dirname(file), ref.specifier);
          return target.startsWith(contractsSrc + sep) ? undefined : 'a relative import leaving libs/contracts/src';
        }
        if (ref.typeOnly && ref.specifier === 'json-schema-to-ts') return undefined;
        return ref.typeOnly ? 'only json-schema-to-ts may be imported, as types' : 'contracts has no runtime dependencies (use `import type`)';
      },
      (file) => rel(file).startsWith('libs/contracts/src/') && !isTestFile(file),
    );
    expect(found).toEqual([]);
  });

  /**
   * Literals that look like subjects but are not NATS subjects. Each entry must still exist, so the
   * list cannot go stale silently.
   */
  const NOT_SUBJECTS: Array<{ file: string; text: string; why: string }> = [
    { file: 'libs/testing/src/twilio/caller.ts', text: 'media.media', why: "a Twilio Media Streams JSON path ('media' event, 'media' field) in a violation label" },
  ];

  it('every NATS subject string literal lives in libs/contracts/src', () => {
    const found: string[] = [];
    const allowedSeen = new Set<string>();
    for (const [file, text] of sources) {
      const path = rel(file);
      if (isTestFile(file) || path.startsWith('libs/contracts/src/')) continue;
      for (const lit of subjectLiteralsOf(file, text)) {
        const allowed = NOT_SUBJECTS.find((a) => a.file === path && a.text === lit.text);
        if (allowed) allowedSeen.add(`${allowed.file}|${allowed.text}`);
        else found.push(`${path}:${lit.line} '${lit.text}': build subjects with contracts/audioSubjects from @switchboard/contracts`);
      }
    }
    expect(found).toEqual([]);
    expect([...allowedSeen].sort()).toEqual(NOT_SUBJECTS.map((a) => `${a.file}|${a.text}`).sort());
  });
});
