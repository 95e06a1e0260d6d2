#!/usr/bin/env node
// Mutation check of the known-answer suites: copies ../shared to a scratch checkout, changes one
// expected value at a time in a vector file (a sample of leaves per file), runs the package's
// tests against it, and counts how many mutations the suite catches. Every one should fail.
//
//   node scripts/vector-sensitivity.mjs [samplesPerFile=12]
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const shared = join(root, "..", "shared");
const samples = Number(process.argv[2] ?? 12);
const suites = [
  {
    files: [
      "macaroon/fixed_vectors.json",
      "macaroon/test_vectors.json",
      "macaroon/macfly_elixir_vectors.json",
    ],
    pkgs: ["packages/macaroon", "packages/caveats"],
  },
  {
    files: ["noise/cacophony.json", "noise/snow.json", "noise/noise-c-basic.json", "noise/flynn-noise.json"],
    pkgs: ["packages/noise"],
  },
];

// Scratch layout: <tmp>/main = a copy of this checkout (its root node_modules linked, package
// node_modules copied as the relative links they are), <tmp>/shared = a copy of ../shared.
const scratch = mkdtempSync(join(tmpdir(), "vecmut-"));
cpSync(shared, join(scratch, "shared"), { recursive: true });
cpSync(root, join(scratch, "main"), {
  recursive: true,
  verbatimSymlinks: true,
  filter: (src) => src !== join(root, "node_modules") && !src.includes(`${join(root, ".git")}`),
});
symlinkSync(join(root, "node_modules"), join(scratch, "main", "node_modules"));

function leaves(v, path = []) {
  if (typeof v === "string" || typeof v === "number") return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, [...path, i]));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [];
}
function mutate(value) {
  if (typeof value === "number") return value + 1;
  if (/^[0-9a-f]+$/i.test(value) && value.length > 0) return (value[0] === "0" ? "1" : "0") + value.slice(1);
  const i = value.search(/[A-Za-z0-9]/);
  if (i < 0) return value + "x";
  const c = value[i];
  return value.slice(0, i) + (c === "A" ? "B" : "A") + value.slice(i + 1);
}
function setAt(obj, path, v) {
  let o = obj;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path.at(-1)] = v;
}
// Descriptive text is not an expected value.
const SKIP = /description|comment|README/i;

let caught = 0;
const missed = [];
let seed = 7;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
};
for (const suite of suites) {
  for (const f of suite.files) {
    const p = join(scratch, "shared", "vectors", f);
    const original = readFileSync(p, "utf8");
    const all = leaves(JSON.parse(original)).filter(([path]) => !path.some((k) => SKIP.test(String(k))));
    for (let s = 0; s < samples && all.length > 0; s++) {
      const [path, value] = all[Math.floor(rnd() * all.length)];
      const doc = JSON.parse(original);
      setAt(doc, path, mutate(value));
      writeFileSync(p, JSON.stringify(doc));
      const failed = suite.pkgs.some((pkg) => {
        const r = spawnSync(join(root, "node_modules", ".bin", "vitest"), ["run", "--reporter=dot"], {
          cwd: join(scratch, "main", pkg),
          stdio: "ignore",
          timeout: 180_000,
        });
        if (r.error) throw new Error(`vitest in ${pkg} did not finish: ${r.error.message}`);
        return r.status !== 0;
      });
      if (failed) caught++;
      else missed.push(`${f}:${path.join(".")}`);
      writeFileSync(p, original);
    }
  }
}
rmSync(scratch, { recursive: true, force: true });
console.log(JSON.stringify({ mutations: caught + missed.length, caught, missed }));
process.exit(missed.length === 0 ? 0 : 1);
