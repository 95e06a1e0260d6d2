/** Shared by the kek-*.test.ts files: a tkdb database with orgs and tokens, read back through the service. */
import { createKeyring, native, randomBytes } from "../src/crypto.js";
import type { ServiceConfig } from "../src/env.js";
import { DrizzleStore } from "../src/store.js";
import { TokenService } from "../src/tokens.js";

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
export const newKek = () => randomBytes(32);

export function serviceConfig(
  dbPath: string,
  kek: Uint8Array,
  more: Partial<ServiceConfig> = {},
): ServiceConfig {
  return {
    dbPath,
    kek,
    location: "https://api.fly.io/v1",
    authLocation: "https://api.fly.io/aaa/v1",
    dischargeTtl: 60,
    thirdPartyKeys: new Map(),
    ...more,
  };
}

/** Opens the service on `dbPath` (KEK checked first) and runs `fn`; always closes. */
export function withService<R>(cfg: ServiceConfig, fn: (svc: TokenService) => R): R {
  const store = new DrizzleStore(cfg.dbPath, native);
  try {
    const svc = new TokenService(store, cfg, native);
    svc.checkKek();
    return fn(svc);
  } finally {
    store.close();
  }
}

/** Creates `orgs` orgs and mints one token for each; returns the tokens by org. */
export function populate(cfg: ServiceConfig, orgs: number): Map<string, string> {
  return withService(cfg, (svc) => {
    const out = new Map<string, string>();
    svc.store.transaction(() => {
      for (let i = 1; i <= orgs; i++) {
        const org = String(i);
        svc.orgCreate({ org });
        out.set(org, svc.mint({ org })[0].token);
      }
    });
    return out;
  });
}

/** Every token verifies with the service opened under `cfg` (throws otherwise). */
export function verifyAll(cfg: ServiceConfig, tokens: Map<string, string>): number {
  return withService(cfg, (svc) => {
    let n = 0;
    for (const [org, token] of tokens) {
      if (svc.verify({ header: `FlyV1 ${token}` }).org !== org)
        throw new Error(`org ${org} verified as another`);
      n++;
    }
    return n;
  });
}

export { createKeyring };
