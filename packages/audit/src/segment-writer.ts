/**
 * Writes chained lines to their segments: each batch is appended to its file(s) and fdatasync'ed
 * before the call resolves. Opening a new segment also syncs the directory, so the file itself
 * survives a crash, not only its contents.
 */
import { type FileHandle, open as openFile } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "./files.js";

export interface PendingLine {
  readonly text: string;
  /** The segment this line belongs to (decided when it was chained). */
  readonly file: string;
  readonly done?: { readonly resolve: () => void; readonly reject: (e: unknown) => void };
}

export class SegmentWriter {
  private fh: FileHandle | null = null;
  private name = "";
  /** fdatasync calls so far: with group commit, fewer than durable appends. */
  syncs = 0;

  constructor(private readonly dir: string) {}

  async write(batch: readonly PendingLine[]): Promise<void> {
    let i = 0;
    while (i < batch.length) {
      const file = (batch[i] as PendingLine).file;
      let j = i;
      while (j < batch.length && (batch[j] as PendingLine).file === file) j++;
      const fh = await this.handleFor(file);
      const buf = Buffer.from(
        batch
          .slice(i, j)
          .map((p) => `${p.text}\n`)
          .join(""),
        "utf8",
      );
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      await fh.datasync();
      this.syncs++;
      i = j;
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close().catch(() => undefined);
  }

  private async handleFor(file: string): Promise<FileHandle> {
    if (this.fh !== null && this.name === file) return this.fh;
    await this.close();
    this.fh = await openFile(join(this.dir, file), "a", 0o600);
    this.name = file;
    fsyncDir(this.dir);
    return this.fh;
  }
}
