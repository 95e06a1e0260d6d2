export declare const TKDB_LOCATION: string;
export declare const AUTH_LOCATION: string;
export declare function x25519Public(privHex: string): Buffer;
interface ServiceDev {
  url: string;
  publicKey: Buffer;
  env: Record<string, string>;
}
export declare function devEnv(
  root: string,
  env?: NodeJS.ProcessEnv,
): {
  data: string;
  keysDir: string;
  files: Record<
    "tkdbKek" | "petsemKek" | "tkdbNoise" | "petsemNoise" | "petsemShared" | "authShared" | "signClient",
    string
  >;
  read(path: string): string;
  tkdb: ServiceDev;
  petsem: ServiceDev;
};
