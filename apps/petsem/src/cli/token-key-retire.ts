/**
 * `petsem token key retire`: deletes every token signing key but the newest (src/store/token-keys.ts).
 * Tokens signed by them are refused from then on, by every process, without a restart. Run it
 * only once every holder has a token from the newest key (infra/KEYS.md, "Token signing keys").
 */
import { command } from "@tkdb/service";
import { listTokenKeys, retireTokenKeys } from "../store/token-keys.js";
import { withTokenKeys } from "./token-key-rotate.js";

export const tokenKeyRetire = command({
  name: "retire",
  description: "delete every token signing key but the newest: tokens they signed are refused from now on",
  examples: ["petsem token key retire", "petsem token key retire --json"],
  run: (ctx) =>
    withTokenKeys(ctx, (sqlite, store) => {
      const retired = retireTokenKeys(sqlite);
      return { retired, keys: listTokenKeys(sqlite, store.ring) };
    }),
  human: (r) => `${JSON.stringify(r, null, 2)}\n`,
});
