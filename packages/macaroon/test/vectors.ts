import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

function load(name: string): unknown {
  return JSON.parse(
    readFileSync(
      fileURLToPath(new URL(`../../../../shared/vectors/macaroon/${name}`, import.meta.url)),
      "utf8",
    ),
  );
}

export interface GeneratorVectors {
  location: string;
  key: string;
  tp_key: string;
  kid: string;
  macaroons: Record<string, string>;
  attenuation: Record<string, Record<string, string>>;
  caveats: Record<string, string>;
  with_tps: string;
}

export interface FixedVectors {
  chain: {
    key_hex: string;
    kid_hex: string;
    nonce_rnd_hex: string;
    location: string;
    nonce_msgpack_hex: string;
    tail0_hex: string;
    steps: {
      caveat_name: string;
      caveat_json: { type: string; body: unknown }[];
      packed_caveat_hex: string;
      tail_after_hex: string;
    }[];
    token_msgpack_hex: string;
    token_string: string;
    nonce_uuid: string;
    verified_caveats_json: { type: string; body: unknown }[];
  };
  empty: { header: string; token_msgpack_hex: string; token_string: string };
  third_party: {
    attenuated_parent_token_hex: string;
    attenuated_parent_with_bound_discharge_verifies: boolean;
    binding_id_hex: string;
    bound_discharge_token_hex: string;
    caveat3p_ticket_hex: string;
    caveat3p_verifier_key_hex: string;
    discharge_tail_before_finalize_hex: string;
    discharge_token_hex: string;
    header: string;
    header_bound: string;
    permission_token_hex: string;
    tail_before_3p_hex: string;
    ticket_caveats_json: { type: string; body: unknown }[];
    tp_key_hex: string;
    tp_location: string;
    verified_trusted_json: { type: string; body: unknown }[];
    verified_untrusted_json: { type: string; body: unknown }[];
  };
}

export const generatorFiles: [string, GeneratorVectors][] = [
  ["macfly_elixir_vectors.json", load("macfly_elixir_vectors.json") as GeneratorVectors],
  ["test_vectors.json", load("test_vectors.json") as GeneratorVectors],
];
export const fixed = load("fixed_vectors.json") as FixedVectors;
