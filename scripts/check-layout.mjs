#!/usr/bin/env node
/**
 * Layout checks, run by `npm test` (scripts/test.mjs) after lint: the habits of STYLE.md and
 * DESIGN.md ("Layout and dependency direction") that a reviewer would otherwise have to re-check by
 * hand on every change. Plain Node plus the TypeScript compiler API (parsing only, no type check).
 *
 *   env-read               process.env is read only in apps/<app>/src/env.ts; packages never read it
 *   crypto-import          node:crypto, crypto and @noble/* are imported only from <pkg>/src/crypto.ts
 *   litestream-spawn       \
 *   constant-time-compare   } apps/ do not re-implement what packages/ provide (heuristics below)
 *   audit-hash-chain       /
 *   app-file-length        no file in apps/ over 400 lines
 *   function-length        no function body over 80 lines without a `long:` comment saying why
 *
 * Scope: the workspaces under apps/ and packages/. Exempt (never scanned): tests, benches and
 * scripts (folders test/, tests/, __tests__/, bench/, benches/, scripts/, fixtures/; files
 * *.test.*, *.spec.*, *.bench.*), tool configuration (*.config.*), declaration files (*.d.ts),
 * node_modules/, dist/, .turbo/.
 *
 * Heuristics of the apps/ checks (they look at code, never at comments or strings alone):
 *   litestream-spawn       a spawn/spawnSync/exec/execSync/execFile/execFileSync/fork call whose
 *                          arguments mention litestream, or any such call in a file named *litestream*
 *   constant-time-compare  any use of timingSafeEqual, or an XOR accumulated with `|` / `|=`
 *                          (`diff |= a[i] ^ b[i]`, the hand-written constant-time loop)
 *   audit-hash-chain       a function named like auditHash / chainHash / hashChain, or a call to a
 *                          hash (callee mentions sha, hash or digest) whose arguments use a previous
 *                          hash (`prev…`)
 *
 * Long functions: a function's length is its body's, from the line of `{` to the line of `}`
 * (an arrow's expression body counts the same way). Over 80 lines, the comment directly above the
 * declaration (a `//` line or the JSDoc block, on the function or on the statement, property or
 * class member that holds it) must contain `long:` followed by the reason, e.g.
 *   // long: discharge verification is one sequence of checks; split, the order would be implicit
 * or say in a sentence that it is the long function and why ("The one long function: Go's …").
 *
 * Allow-list (a ratchet): scripts/check-layout.allow.json lists the violations that an ongoing
 * migration will remove, each `{ "check", "file", "match"?, "reason" }`. An entry allows every
 * finding of that check in that file (only those whose key equals `match` when it is given). An
 * entry that allows nothing is itself an error, so the list can only shrink.
 *
 * Usage: node scripts/check-layout.mjs [--root DIR] [--allow FILE] [--json]
 * Exit codes: 0 clean, 1 violations or stale allow-list entries, 2 usage or unreadable allow-list.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const CHECKS = {
  "env-read": "process.env read outside apps/<app>/src/env.ts",
  "crypto-import": "crypto library imported outside <package>/src/crypto.ts",
  "litestream-spawn": "Litestream spawned in an app (use @tkdb/litestream)",
  "constant-time-compare": "constant-time compare implemented in an app (use the shared helper)",
  "audit-hash-chain": "audit hash chain implemented in an app (use @tkdb/audit)",
  "app-file-length": "file in apps/ over 400 lines",
  "function-length": "function over 80 lines without a `long:` comment",
};
const MAX_APP_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

const SOURCE_EXT = /\.(?:[cm]?[jt]s|tsx|jsx)$/;
const EXEMPT_DIRS = new Set([
  "node_modules",
  "dist",
  ".turbo",
  "coverage",
  "test",
  "tests",
  "__tests__",
  "bench",
  "benches",
  "scripts",
  "fixtures",
]);
const EXEMPT_FILE = /(?:\.(?:test|spec|bench)\.[^.]+$)|(?:\.config\.[^.]+$)|(?:\.d\.[cm]?ts$)/;

// ---- files ------------------------------------------------------------------------------------

/** Every scanned source file under apps/* and packages/*, as { abs, rel, area, unit }. */
function sourceFiles(root) {
  const out = [];
  for (const area of ["apps", "packages"]) {
    const areaDir = join(root, area);
    if (!existsSync(areaDir)) continue;
    for (const unit of readdirSync(areaDir).sort()) {
      const unitDir = join(areaDir, unit);
      if (!statSync(unitDir).isDirectory()) continue;
      walk(unitDir, (abs) => {
        const rel = relative(root, abs).split(sep).join("/");
        out.push({ abs, rel, area, unit, inUnit: rel.slice(area.length + unit.length + 2) });
      });
    }
  }
  return out;
}

function walk(dir, visit) {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isDirectory()) {
      if (!EXEMPT_DIRS.has(e.name)) walk(join(dir, e.name), visit);
    } else if (e.isFile() && SOURCE_EXT.test(e.name) && !EXEMPT_FILE.test(e.name)) {
      visit(join(dir, e.name));
    }
  }
}

// ---- AST helpers ------------------------------------------------------------------------------

function lineOf(sf, pos) {
  return sf.getLineAndCharacterOfPosition(pos).line + 1;
}

function forEachNode(node, visit) {
  visit(node);
  ts.forEachChild(node, (c) => forEachNode(c, visit));
}

const stringValue = (n) =>
  n && (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) ? n.text : undefined;

/** The name a call is made through: `spawn` for `spawn(…)` and `cp.spawn(…)`. */
function calleeName(call) {
  const e = call.expression;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

/** `process`, `globalThis.process`, `global.process`, or a local bound to the process module. */
function isProcessRef(n, processNames) {
  if (ts.isIdentifier(n)) return processNames.has(n.text);
  return (
    ts.isPropertyAccessExpression(n) &&
    n.name.text === "process" &&
    ts.isIdentifier(n.expression) &&
    (n.expression.text === "globalThis" || n.expression.text === "global")
  );
}

const PROCESS_MODULES = new Set(["process", "node:process"]);
const isCryptoModule = (m) => m === "crypto" || m === "node:crypto" || m.startsWith("@noble/");

/** Every module specifier the file imports, exports from, requires or names in `import("…")`. */
function moduleReferences(sf) {
  const refs = [];
  forEachNode(sf, (n) => {
    let spec;
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) {
      spec = n.moduleSpecifier;
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      spec = n.moduleReference.expression;
    } else if (ts.isCallExpression(n)) {
      const dynamicImport = n.expression.kind === ts.SyntaxKind.ImportKeyword;
      const req = ts.isIdentifier(n.expression) && n.expression.text === "require";
      if (dynamicImport || req) spec = n.arguments[0];
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) {
      spec = n.argument.literal;
    }
    const text = stringValue(spec);
    if (text !== undefined) refs.push({ module: text, node: n });
  });
  return refs;
}

// ---- checks -----------------------------------------------------------------------------------

function checkEnv(file, sf, report) {
  if (file.area === "apps" && file.inUnit === "src/env.ts") return;
  const processNames = new Set(["process"]);
  for (const { module, node } of moduleReferences(sf)) {
    if (!PROCESS_MODULES.has(module)) continue;
    const clause = ts.isImportDeclaration(node) ? node.importClause : undefined;
    if (clause?.name) processNames.add(clause.name.text);
    const nb = clause?.namedBindings;
    if (nb && ts.isNamespaceImport(nb)) processNames.add(nb.name.text);
    if (nb && ts.isNamedImports(nb)) {
      for (const el of nb.elements) {
        if ((el.propertyName ?? el.name).text === "env")
          report(node, "process.env", "imports env from process");
      }
    }
    if (
      ts.isCallExpression(node) &&
      ts.isVariableDeclaration(node.parent) &&
      ts.isIdentifier(node.parent.name)
    ) {
      processNames.add(node.parent.name.text); // const proc = require("node:process")
    }
  }
  forEachNode(sf, (n) => {
    if (
      ts.isPropertyAccessExpression(n) &&
      n.name.text === "env" &&
      isProcessRef(n.expression, processNames)
    ) {
      report(n, "process.env", "reads process.env");
    } else if (
      ts.isElementAccessExpression(n) &&
      stringValue(n.argumentExpression) === "env" &&
      isProcessRef(n.expression, processNames)
    ) {
      report(n, "process.env", "reads process.env");
    } else if (
      ts.isVariableDeclaration(n) &&
      ts.isObjectBindingPattern(n.name) &&
      n.initializer &&
      isProcessRef(n.initializer, processNames) &&
      n.name.elements.some((el) => {
        const key = el.propertyName ?? el.name;
        return (ts.isIdentifier(key) || ts.isStringLiteral(key)) && key.text === "env";
      })
    ) {
      report(n, "process.env", "destructures env from process");
    }
  });
}

function checkCrypto(file, sf, report) {
  if (file.inUnit === "src/crypto.ts") return;
  for (const { module, node } of moduleReferences(sf)) {
    if (isCryptoModule(module)) report(node, module, `imports ${module}`);
  }
}

const SPAWNERS = new Set(["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"]);

function checkLitestreamSpawn(file, sf, report) {
  const namedLitestream = /litestream/i.test(basename(file.rel));
  forEachNode(sf, (n) => {
    if (!ts.isCallExpression(n)) return;
    const name = calleeName(n);
    if (!name || !SPAWNERS.has(name)) return;
    const args = n.arguments.map((a) => a.getText(sf)).join(",");
    if (namedLitestream || /litestream/i.test(args)) report(n, name, `${name}(…) runs Litestream`);
  });
}

/** Does `n` contain an XOR (`^`) expression? */
function hasXor(n) {
  let found = false;
  forEachNode(n, (c) => {
    if (ts.isBinaryExpression(c) && c.operatorToken.kind === ts.SyntaxKind.CaretToken) found = true;
  });
  return found;
}

function checkConstantTime(_file, sf, report) {
  forEachNode(sf, (n) => {
    if (ts.isIdentifier(n) && n.text === "timingSafeEqual") {
      report(n, "timingSafeEqual", "uses timingSafeEqual");
    } else if (ts.isBinaryExpression(n)) {
      const op = n.operatorToken.kind;
      if (op === ts.SyntaxKind.BarEqualsToken && hasXor(n.right)) {
        report(n, "xor-accumulate", "accumulates an XOR with |= (hand-written constant-time compare)");
      } else if (op === ts.SyntaxKind.BarToken && (hasXor(n.left) || hasXor(n.right))) {
        report(n, "xor-accumulate", "accumulates an XOR with | (hand-written constant-time compare)");
      }
    }
  });
}

const CHAIN_NAME = /(?:audit|chain)_?hash|hash_?chain/i;

/** The name a function is declared under (its own, or the variable, property or member holding it). */
function functionName(fn) {
  if (
    fn.name &&
    (ts.isIdentifier(fn.name) || ts.isStringLiteral(fn.name) || ts.isPrivateIdentifier(fn.name))
  ) {
    return fn.name.text;
  }
  if (ts.isConstructorDeclaration(fn)) return "constructor";
  const p = fn.parent;
  if (
    p &&
    (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) &&
    p.name &&
    (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))
  ) {
    return p.name.text;
  }
  return undefined;
}

function checkAuditHashChain(_file, sf, report) {
  forEachNode(sf, (n) => {
    if (ts.isFunctionLike(n) && "body" in n && n.body) {
      const name = functionName(n);
      if (name && CHAIN_NAME.test(name)) report(n, name, `defines ${name} (an audit hash chain link)`);
    } else if (ts.isCallExpression(n)) {
      const callee = n.expression.getText(sf);
      if (!/sha|hash|digest/i.test(callee)) return;
      if (n.arguments.some((a) => /\bprev|prev_?hash/i.test(a.getText(sf)))) {
        report(n, calleeName(n) ?? callee, `hashes a previous hash with ${callee}(…)`);
      }
    }
  });
}

function checkAppFileLength(_file, sf, report) {
  const text = sf.text;
  const lines = text.length === 0 ? 0 : text.replace(/\r?\n$/, "").split(/\r?\n/).length;
  if (lines > MAX_APP_FILE_LINES) report(sf, "lines", `${lines} lines (limit ${MAX_APP_FILE_LINES})`, 1);
}

/** The nodes whose leading comment may justify `fn`: it and each holder up to its statement. */
function commentHolders(fn) {
  const chain = [fn];
  let n = fn;
  while (
    n.parent &&
    !ts.isSourceFile(n.parent) &&
    !ts.isBlock(n.parent) &&
    !ts.isClassLike(n.parent) &&
    !ts.isModuleBlock(n.parent)
  ) {
    n = n.parent;
    chain.push(n);
    if (ts.isStatement(n) || ts.isClassElement(n) || ts.isPropertyAssignment(n)) break;
  }
  return chain;
}

/** `long: <why>`, or a sentence naming it the long function (`The one long function: …`). */
const LONG_MARK = /\blong:\s*\S|\blong function\b/i;

function hasLongComment(sf, fn) {
  for (const holder of commentHolders(fn)) {
    for (const r of ts.getLeadingCommentRanges(sf.text, holder.pos) ?? []) {
      if (LONG_MARK.test(sf.text.slice(r.pos, r.end))) return true;
    }
  }
  return false;
}

function checkFunctionLength(_file, sf, report) {
  forEachNode(sf, (n) => {
    if (!ts.isFunctionLike(n) || !("body" in n) || !n.body) return;
    const lines = lineOf(sf, n.body.end) - lineOf(sf, n.body.getStart(sf)) + 1;
    if (lines <= MAX_FUNCTION_LINES || hasLongComment(sf, n)) return;
    const name = functionName(n) ?? `<anonymous@${lineOf(sf, n.getStart(sf))}>`;
    report(n, name, `${name}: ${lines} lines (limit ${MAX_FUNCTION_LINES}) and no \`long:\` comment`);
  });
}

// ---- allow-list -------------------------------------------------------------------------------

class UsageError extends Error {}

function readAllowList(path) {
  if (!existsSync(path)) return [];
  let doc;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`${path}: not JSON (${e.message})`);
  }
  const entries = doc?.allow;
  if (!Array.isArray(entries)) throw new UsageError(`${path}: expected { "allow": [ … ] }`);
  const seen = new Set();
  return entries.map((e, i) => {
    const where = `${path}: allow[${i}]`;
    if (typeof e !== "object" || e === null || Array.isArray(e))
      throw new UsageError(`${where}: not an object`);
    for (const k of Object.keys(e)) {
      if (!["check", "file", "match", "reason"].includes(k))
        throw new UsageError(`${where}: unknown field ${k}`);
    }
    if (!Object.hasOwn(CHECKS, e.check))
      throw new UsageError(`${where}: unknown check ${JSON.stringify(e.check)}`);
    if (typeof e.file !== "string" || e.file === "") throw new UsageError(`${where}: file must be a path`);
    if (e.match !== undefined && (typeof e.match !== "string" || e.match === "")) {
      throw new UsageError(`${where}: match must be a non-empty string`);
    }
    if (typeof e.reason !== "string" || e.reason.trim().length < 10) {
      throw new UsageError(`${where}: every entry needs a reason`);
    }
    const id = JSON.stringify([e.check, e.file, e.match ?? null]);
    if (seen.has(id)) throw new UsageError(`${where}: duplicate entry`);
    seen.add(id);
    return { ...e, used: 0 };
  });
}

// ---- run --------------------------------------------------------------------------------------

/** Runs every check under `root`; returns { files, violations, allowed, stale }. */
export function checkLayout(root, allowPath) {
  const allow = readAllowList(allowPath);
  const findings = [];
  const files = sourceFiles(root);
  for (const file of files) {
    const text = readFileSync(file.abs, "utf8");
    const sf = ts.createSourceFile(file.abs, text, ts.ScriptTarget.Latest, true);
    const reporter = (check) => (node, key, message, line) =>
      findings.push({
        check,
        file: file.rel,
        line: line ?? lineOf(sf, node.getStart(sf)),
        key,
        message,
      });
    checkEnv(file, sf, reporter("env-read"));
    checkCrypto(file, sf, reporter("crypto-import"));
    if (file.area === "apps") {
      checkLitestreamSpawn(file, sf, reporter("litestream-spawn"));
      checkConstantTime(file, sf, reporter("constant-time-compare"));
      checkAuditHashChain(file, sf, reporter("audit-hash-chain"));
      checkAppFileLength(file, sf, reporter("app-file-length"));
    }
    checkFunctionLength(file, sf, reporter("function-length"));
  }
  const violations = [];
  const allowed = [];
  for (const f of findings) {
    const entry = allow.find(
      (a) => a.check === f.check && a.file === f.file && (a.match === undefined || a.match === f.key),
    );
    if (entry) {
      entry.used++;
      allowed.push(f);
    } else {
      violations.push(f);
    }
  }
  const stale = allow.filter((a) => a.used === 0).map(({ used: _, ...a }) => a);
  return { files: files.length, violations, allowed, stale };
}

function main(argv) {
  const here = dirname(fileURLToPath(import.meta.url));
  let root = join(here, "..");
  let allowPath;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if ((a === "--root" || a === "--allow") && argv[i + 1] !== undefined) {
      if (a === "--root") root = resolve(argv[++i]);
      else allowPath = resolve(argv[++i]);
    } else {
      console.error(`usage: check-layout.mjs [--root DIR] [--allow FILE] [--json] (unexpected ${a})`);
      return 2;
    }
  }
  allowPath ??= join(root, "scripts", "check-layout.allow.json");
  let result;
  try {
    result = checkLayout(root, allowPath);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (json) console.log(JSON.stringify({ error: e.message }));
    else console.error(`check-layout: ${e.message}`);
    return 2;
  }
  const { files, violations, allowed, stale } = result;
  if (json) {
    console.log(JSON.stringify({ files, violations, allowed, stale }, null, 2));
  } else {
    for (const v of violations) console.error(`${v.file}:${v.line}  [${v.check}] ${v.message}`);
    for (const s of stale) {
      const m = s.match === undefined ? "" : ` match ${JSON.stringify(s.match)}`;
      console.error(
        `${relative(root, allowPath)}  [stale] ${s.check} ${s.file}${m} allows nothing: remove the entry`,
      );
    }
    const nChecks = Object.keys(CHECKS).length;
    console.log(
      `layout: ${violations.length} violations, ${stale.length} stale allow-list entries, ` +
        `${allowed.length} allowed (${nChecks} checks over ${files} files)`,
    );
  }
  return violations.length > 0 || stale.length > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
