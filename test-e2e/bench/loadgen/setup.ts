/**
 * The data the Noise workloads need, made the way the boot flow makes it (test-e2e/src/flow.ts) on
 * a stack of real processes (test-e2e/src/reliability/stack.ts): an org, `users` logged-in users
 * (permission token + login discharge), and one app with `secretCount` dummy secrets written with
 * the API server's writer token. Returned as plain data for the load-generator workers.
 */
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { loginUser, writerFor } from "../../src/flow.js";
import { hex } from "../../src/harness.js";
import type { Stack } from "../../src/reliability/stack.js";
import type { FlowSpec } from "./protocol.js";

export async function prepareFlow(
  stack: Stack,
  opts: { org: bigint; app: bigint; users: number; secretCount: number },
): Promise<FlowSpec> {
  const a = stack.actors;
  await a.admin.orgCreate(opts.org);
  const userHeaders: string[] = [];
  for (let u = 0; u < opts.users; u++)
    userHeaders.push((await loginUser(a, opts.org, BigInt(1000 + u))).header);
  const values: Record<string, string> = {};
  for (let s = 0; s < opts.secretCount; s++) values[`SECRET_${s}`] = `value-${s}-${"x".repeat(40)}`;
  const { app_version } = await a.secrets.set(writerFor(a, opts.org, opts.app), opts.org, opts.app, values);
  return {
    tkdb: { url: stack.tkdb.url, publicKeyHex: hex(stack.tkdb.publicKey) },
    petsem: { url: stack.petsem.url, publicKeyHex: hex(stack.petsem.publicKey) },
    userHeaders,
    reader: encodeAuthorizationHeader([a.reader]),
    org: opts.org.toString(),
    app: opts.app.toString(),
    minVersion: app_version,
    values,
  };
}
