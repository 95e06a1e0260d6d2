#!/usr/bin/env node
// The main job: tkdb and petsem on embedded SQLite under ./data (or $DATA_DIR). The first start
// creates development keys there (owner-only files); production injects them (infra/KEYS.md).
// Ctrl-C stops both cleanly.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { devEnv, writeDevEnvFile } from "./dev-env.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
for (const app of ["tkdb", "petsem"]) {
  if (!existsSync(join(root, "apps", app, "src", "cli.ts"))) {
    console.error(`${app} is not built yet (apps/${app}/src/cli.ts is missing).`);
    process.exit(2);
  }
}
const dev = devEnv(root);
const tsx = join(root, "node_modules", ".bin", "tsx");
let stopping = false;
const children = [];
function launch(name) {
  const child = spawn(tsx, [join(root, "apps", name, "src", "cli.ts"), "serve"], {
    env: { ...process.env, ...dev[name].env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${code ?? signal}); stopping the other service`);
      stop(1);
    }
  });
  children.push(child);
}

/** `petsem token mint --<role>` on the running service's database, into an owner-only file. */
function mintPetsemToken(role, file) {
  const r = spawnSync(
    tsx,
    [join(root, "apps", "petsem", "src", "cli.ts"), "token", "mint", `--${role}`, "--json"],
    {
      env: { ...process.env, ...dev.petsem.env, NODE_ENV: "development" },
      encoding: "utf8",
    },
  );
  const token = r.status === 0 ? JSON.parse(r.stdout).token : undefined;
  if (typeof token !== "string") {
    console.error(`could not mint petsem's development ${role} token:\n${r.stderr}`);
    return;
  }
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Resolves once something accepts TCP connections on `url`'s port (or after `ms`). */
function listening(url, ms) {
  const { hostname, port } = new URL(url);
  const until = Date.now() + ms;
  return new Promise((resolve) => {
    const attempt = () => {
      const s = connect({ host: hostname, port: Number(port) });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => {
        s.destroy();
        if (stopping || Date.now() > until) resolve(false);
        else setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}

// petsem follows tkdb's revocation feed, so it starts once tkdb listens.
launch("tkdb");
const tkdbUp = await listening(dev.tkdb.url, 60_000);
if (!stopping) launch("petsem");

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
  if (live.length === 0) process.exit(code);
  let left = live.length;
  for (const c of live) {
    c.once("exit", () => {
      if (--left === 0) process.exit(code);
    });
    c.kill("SIGTERM");
  }
  setTimeout(() => process.exit(code), 10_000).unref();
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

console.log(`tkdb and petsem are starting (data: ${dev.data}).
  tkdb    ${dev.tkdb.url}   Noise static public key (hex) ${dev.tkdb.publicKey.toString("hex")}
  petsem  ${dev.petsem.url}   Noise static public key (hex) ${dev.petsem.publicKey.toString("hex")}
Development keys are in ${dev.keysDir} (files only their owner can read). In production the
key-encryption keys and the other secrets are injected by the platform instead (infra/KEYS.md).
Run \`npm run demo\` in another terminal to see the whole flow. Ctrl-C stops both.`);

// Once both listen: the CLIs' development settings (URLs, public keys, key file paths).
if (tkdbUp && (await listening(dev.petsem.url, 60_000)) && !stopping) {
  // The development API server's writer token and flyd's reader token, minted at every start (a
  // fresh data folder has fresh petsem keys), owner-only files the dev env file points to.
  for (const role of ["writer", "reader"]) mintPetsemToken(role, join(dev.keysDir, `petsem-${role}.token`));
  const file = writeDevEnvFile(dev);
  console.log(`Both services are ready. The tkdb and petsem CLIs read their settings from ${file}
when run inside this repository (try \`npm run tkdb -- --help\`); variables you export win.`);
}
