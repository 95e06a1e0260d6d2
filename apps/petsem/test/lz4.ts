/**
 * A minimal LZ4 frame decoder (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md) so the
 * backup test can scan what Litestream really stores: its snapshots and WAL segments are LZ4
 * frames, and a plaintext secret would sit inside them compressed. Test-only; checksums are skipped.
 */
const MAGIC = 0x184d2204;

export function lz4FrameDecode(src: Uint8Array): Buffer {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    if (view.getUint32(i, true) !== MAGIC) throw new Error("not an LZ4 frame");
    i += 4;
    const flg = src[i] as number;
    i += 2; // FLG, BD
    const blockChecksum = (flg & 0x10) !== 0;
    if (flg & 0x08) i += 8; // content size
    if (flg & 0x01) i += 4; // dictionary id
    i += 1; // header checksum
    for (;;) {
      const size = view.getUint32(i, true);
      i += 4;
      if (size === 0) break;
      const len = size & 0x7fffffff;
      const block = src.subarray(i, i + len);
      if (size & 0x80000000) for (const b of block) out.push(b);
      else decodeBlock(block, out);
      i += len + (blockChecksum ? 4 : 0);
    }
    if (flg & 0x04) i += 4; // content checksum
  }
  return Buffer.from(out);
}

function decodeBlock(src: Uint8Array, out: number[]): void {
  let i = 0;
  while (i < src.length) {
    const token = src[i++] as number;
    let lit = token >> 4;
    if (lit === 15) {
      let b: number;
      do {
        b = src[i++] as number;
        lit += b;
      } while (b === 255);
    }
    for (let k = 0; k < lit; k++) out.push(src[i++] as number);
    if (i >= src.length) break;
    const offset = (src[i] as number) | ((src[i + 1] as number) << 8);
    i += 2;
    if (offset === 0 || offset > out.length) throw new Error("bad LZ4 match offset");
    let match = token & 15;
    if (match === 15) {
      let b: number;
      do {
        b = src[i++] as number;
        match += b;
      } while (b === 255);
    }
    match += 4;
    const start = out.length - offset;
    for (let k = 0; k < match; k++) out.push(out[start + k] as number);
  }
}
