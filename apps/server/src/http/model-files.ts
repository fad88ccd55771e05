// GET /models/<id>/<file>: a model's files, for the page (and the headless client) to load.
// Only names a Hugging Face model folder has, only regular files directly in the model folder:
// the name is matched against a fixed list (so no "..", no slashes, no absolute paths), and the
// file is opened with O_NOFOLLOW (so a symlink, even under an allowed name, is refused).
// Content-Length lets the page show progress; ETag lets it revalidate instead of downloading again.
import { constants } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';

const MODEL_FILES = new Set([
  'config.json',
  'model.safetensors',
  'model.safetensors.index.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
  'vocab.json',
  'merges.txt',
  'special_tokens_map.json',
]);
const SHARD = /^model-\d{5}-of-\d{5}\.safetensors$/;

export const isModelFileName = (name: string): boolean => MODEL_FILES.has(name) || SHARD.test(name);

const TYPES: Record<string, string> = { json: 'application/json', txt: 'text/plain; charset=utf-8', safetensors: 'application/octet-stream' };

/** Opens a servable file, or returns undefined (missing, not allowed, a symlink, not a regular file). */
async function openModelFile(dir: string, name: string): Promise<{ fh: FileHandle; size: number; etag: string; mtime: Date } | undefined> {
  if (!isModelFileName(name)) return undefined;
  let fh: FileHandle;
  try {
    fh = await open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined; // ENOENT, or ELOOP for a symlink
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    return undefined;
  }
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}-${st.ino.toString(16)}"`;
  return { fh, size: st.size, etag, mtime: st.mtime };
}

export async function sendModelFile(dir: string, req: Request, res: Response): Promise<void> {
  const name = String(req.params.file ?? '');
  const f = await openModelFile(dir, name);
  if (!f) {
    res.status(404).json({ error: { code: 'not_found', message: `no model file "${name.slice(0, 100)}"` } });
    return;
  }
  try {
    res.setHeader('Content-Type', TYPES[name.split('.').at(-1)!] ?? 'application/octet-stream');
    res.setHeader('ETag', f.etag);
    res.setHeader('Last-Modified', f.mtime.toUTCString());
    res.setHeader('Cache-Control', 'no-cache'); // keep, but revalidate: the folder may be regenerated
    res.setHeader('Accept-Ranges', 'none');
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === f.etag)) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Length', String(f.size));
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // a client that goes away mid-download ends the stream; nothing left to answer
    await pipeline(f.fh.createReadStream({ autoClose: false }), res).catch(() => res.destroy());
  } finally {
    await f.fh.close();
  }
}

/**
 * The servable files present in the folder, with their sizes and ETags: the page keys its
 * browser-storage copy on this list, so a regenerated model of the same size is fetched anew.
 */
export async function listModelFiles(dir: string): Promise<Array<{ name: string; bytes: number; etag: string }>> {
  const out: Array<{ name: string; bytes: number; etag: string }> = [];
  for (const name of (await readdir(dir)).sort()) {
    const f = await openModelFile(dir, name);
    if (!f) continue;
    out.push({ name, bytes: f.size, etag: f.etag });
    await f.fh.close();
  }
  return out;
}
