// A small, strict safetensors reader/writer over Uint8Array (browser-safe: no Node imports).
// There is no well-kept safetensors package for JS (`safetensors` on npm is a 0.0.1 placeholder),
// so this is ours. Format (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data bytes]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
// the start of the data bytes) plus an optional "__metadata__" string->string map. Like the Rust
// reference we require the tensors to tile the data section exactly: no overlap, no gaps, no
// trailing bytes, and end - begin == product(shape) * dtype size.
import { float16Table, float32ToFloat16Bits } from '@splitwise/core';
import { InvalidHeaderError, TruncatedFileError, UnsupportedDtypeError } from './errors.ts';

/** Byte size of each dtype in the spec that has whole-byte elements. */
const DTYPE_SIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
  C64: 8,
} as const;
export type SafetensorsDtype = keyof typeof DTYPE_SIZE;
/** Dtypes readFloat32 converts. */
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const satisfies readonly SafetensorsDtype[];
export type FloatDtype = (typeof FLOAT_DTYPES)[number];
/** Dtypes we write (U8: quantized weights, see quantized.ts). */
export type WriteDtype = 'F32' | 'F16' | 'U8';

/** The Rust library refuses headers over 100 MB; a bigger length prefix means a corrupt file. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  fileName: string;
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
  metadata: Record<string, string> | undefined;
  /** In header order. */
  tensors: Map<string, SafetensorsTensorInfo>;
}

export interface SafetensorsTensor extends SafetensorsTensorInfo {
  fileName: string;
  /** The tensor's raw little-endian bytes (a view into the file bytes). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  fileName: string;
  metadata: Record<string, string> | undefined;
  tensors: Map<string, SafetensorsTensor>;
}

// Typed-array views of file bytes are only meaningful on little-endian hosts (every browser and
// Node platform in practice); refuse rather than silently byte-swap garbage.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const dtypeSize = (dtype: SafetensorsDtype): number => DTYPE_SIZE[dtype];

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Read the 8-byte little-endian header length and check it against the file size.
 * `prefix` holds at least the first 8 bytes of the file if the file has that many.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, fileName = 'model.safetensors'): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new TruncatedFileError(
      `${fileName}: file is ${fileSize} bytes, too short for the 8-byte header length (truncated download?)`,
    );
  }
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32; // u64 as a double: exact below 2^53
  if (n > MAX_HEADER_BYTES) {
    throw new InvalidHeaderError(
      `${fileName}: header length ${n} exceeds the safetensors limit of ${MAX_HEADER_BYTES} bytes ` +
        `(corrupt length prefix, or not a safetensors file)`,
    );
  }
  if (n < 2) throw new InvalidHeaderError(`${fileName}: header length ${n} is too small to hold a JSON object`);
  if (8 + n > fileSize) {
    throw new TruncatedFileError(
      `${fileName}: header length ${n} runs past the end of the ${fileSize}-byte file ` +
        `(file truncated inside the header, or the header length is wrong)`,
    );
  }
  return n;
}

const isSafeNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Validate the JSON header (the N bytes after the length prefix) of a file of `fileSize` bytes.
 * Used both on a whole file in memory and by the Node streaming reader, which reads only the header.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  fileName = 'model.safetensors',
): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new InvalidHeaderError(`${fileName}: header is not valid UTF-8`);
  }
  if (!text.startsWith('{')) {
    throw new InvalidHeaderError(`${fileName}: header does not start with "{" (not a safetensors file?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InvalidHeaderError(`${fileName}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidHeaderError(`${fileName}: header JSON is not an object`);
  }

  const dataStart = 8 + headerBytes.length;
  const dataLength = fileSize - dataStart;
  let metadata: Record<string, string> | undefined;
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, fileName);
      continue;
    }
    tensors.set(name, parseEntry(name, raw, fileName));
  }

  // The tensors must tile [0, dataLength) exactly.
  const sorted = [...tensors.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let prev: SafetensorsTensorInfo | undefined;
  for (const t of sorted) {
    const [b, e] = t.dataOffsets;
    const oob = e > dataLength ? ` (and lie outside the ${dataLength}-byte data section)` : '';
    if (b < end) {
      throw new InvalidHeaderError(
        `${fileName}: tensor "${t.name}" data_offsets [${b}, ${e}] overlap tensor "${prev?.name}" ending at ${end}${oob}`,
      );
    }
    if (b > end) {
      throw new InvalidHeaderError(
        `${fileName}: tensor "${t.name}" data_offsets [${b}, ${e}] leave a gap of ${b - end} bytes after byte ${end}${oob}`,
      );
    }
    end = e;
    prev = t;
  }
  if (end > dataLength) {
    const past = sorted.find((t) => t.dataOffsets[1] > dataLength);
    throw new TruncatedFileError(
      `${fileName}: header describes ${end} data bytes but the file holds only ${dataLength} ` +
        `(file truncated, or tensor "${past?.name}" data_offsets [${past?.dataOffsets.join(', ')}] out of bounds)`,
    );
  }
  if (end < dataLength) {
    throw new InvalidHeaderError(
      `${fileName}: ${dataLength - end} bytes after the last tensor (ending at ${end}) belong to no tensor ` +
        `(header length or offsets are wrong)`,
    );
  }
  return { fileName, dataStart, metadata, tensors };
}

function parseMetadata(raw: unknown, fileName: string): Record<string, string> | undefined {
  if (raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidHeaderError(`${fileName}: "__metadata__" must be an object of strings`);
  }
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') {
      throw new InvalidHeaderError(`${fileName}: "__metadata__" value for "${k}" is not a string`);
    }
  }
  return { ...(raw as Record<string, string>) };
}

function parseEntry(name: string, raw: unknown, fileName: string): SafetensorsTensorInfo {
  const where = `${fileName}: tensor "${name}"`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidHeaderError(`${where}: header entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new InvalidHeaderError(`${where}: "dtype" is missing or not a string`);
  if (!Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw new UnsupportedDtypeError(dtype, `${where} has dtype "${dtype}", which this reader does not support`);
  }
  if (!Array.isArray(shape) || !shape.every(isSafeNonNegInt)) {
    throw new InvalidHeaderError(`${where}: "shape" must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegInt)) {
    throw new InvalidHeaderError(`${where}: "data_offsets" must be [begin, end] non-negative integers`);
  }
  const [b, e] = offsets as [number, number];
  if (e < b) throw new InvalidHeaderError(`${where}: data_offsets [${b}, ${e}] end before they begin`);
  const d = dtype as SafetensorsDtype;
  const bytes = numel(shape as number[]) * DTYPE_SIZE[d];
  if (!Number.isSafeInteger(bytes) || bytes !== e - b) {
    throw new InvalidHeaderError(
      `${where}: data_offsets [${b}, ${e}] span ${e - b} bytes but ${d} ${fmtShape(shape as number[])} needs ${bytes}`,
    );
  }
  return { name, dtype: d, shape: [...(shape as number[])], dataOffsets: [b, e] };
}

/** Parse and validate a whole safetensors file held in memory. Tensor bytes are views, not copies. */
export function parseSafetensors(bytes: Uint8Array, fileName = 'model.safetensors'): SafetensorsFile {
  const n = readHeaderLength(bytes, bytes.length, fileName);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length, fileName);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of header.tensors) {
    const [b, e] = t.dataOffsets;
    tensors.set(name, { ...t, fileName, bytes: bytes.subarray(header.dataStart + b, header.dataStart + e) });
  }
  return { fileName, metadata: header.metadata, tensors };
}

// ---------------------------------------------------------------- conversion to float32

/** An aligned typed-array view of `bytes`, copying only when the bytes are not aligned. */
function alignedView<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, off: number, len: number) => T): T {
  if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, bytes.length / size);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return make(copy.buffer, 0, bytes.length / size);
}

export interface ReadFloat32Options {
  /** Always return a fresh array. Default false: aligned F32 data comes back as a zero-copy view. */
  copy?: boolean;
}

/**
 * The tensor as float32. F32 data that is 4-byte aligned is returned as a view of the file bytes
 * (no copy) unless `copy` is set; F16, BF16 and F64 are converted into a fresh array.
 */
export function readFloat32(
  t: Pick<SafetensorsTensor, 'name' | 'dtype' | 'shape' | 'bytes'> & { fileName?: string },
  opts: ReadFloat32Options = {},
): Float32Array {
  if (!LITTLE_ENDIAN) throw new UnsupportedDtypeError(t.dtype, 'big-endian hosts are not supported');
  const n = numel(t.shape);
  const where = `${t.fileName ?? 'safetensors'}: tensor "${t.name}"`;
  if (!(FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
    throw new UnsupportedDtypeError(t.dtype, `${where} has dtype ${t.dtype}; expected one of ${FLOAT_DTYPES.join(', ')}`);
  }
  const size = DTYPE_SIZE[t.dtype];
  if (t.bytes.length !== n * size) {
    throw new InvalidHeaderError(`${where}: ${t.bytes.length} bytes do not hold ${t.dtype} ${fmtShape(t.shape)}`);
  }
  switch (t.dtype as FloatDtype) {
    case 'F32': {
      if (!opts.copy && t.bytes.byteOffset % 4 === 0) return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, n);
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(t.bytes);
      return out;
    }
    case 'F16': {
      const src = alignedView(t.bytes, 2, (b, o, l) => new Uint16Array(b, o, l));
      const table = float16Table();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const src = alignedView(t.bytes, 2, (b, o, l) => new Uint16Array(b, o, l));
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      out.set(alignedView(t.bytes, 8, (b, o, l) => new Float64Array(b, o, l))); // rounds to nearest
      return out;
    }
  }
}

// ---------------------------------------------------------------- writing

export interface TensorSpec {
  name: string;
  dtype: WriteDtype;
  shape: number[];
}
export interface TensorToWrite extends TensorSpec {
  /** Float32Array for F32 and F16; Uint8Array for U8. */
  data: Float32Array | Uint8Array;
}

export interface SafetensorsLayout {
  /** The 8-byte length prefix plus the space-padded JSON header: the file's first bytes. */
  header: Uint8Array;
  /** Tensors in file order with their offsets relative to the data section. */
  entries: Array<TensorSpec & { begin: number; end: number }>;
  /** Size of the whole file. */
  fileSize: number;
}

/**
 * Plan a file: order, offsets and header bytes. Order is what the Rust library writes (larger
 * dtypes first, then by name), so with one dtype the tensors are sorted by name and every tensor
 * stays aligned to its element size. The header is padded with spaces to a multiple of 8 bytes.
 */
export function layoutSafetensors(specs: readonly TensorSpec[], metadata?: Record<string, string>): SafetensorsLayout {
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new InvalidHeaderError(`cannot write tensor "${s.name}" twice`);
    if (s.name === '__metadata__') throw new InvalidHeaderError('"__metadata__" is not a valid tensor name');
    names.add(s.name);
  }
  const ordered = [...specs].sort(
    (a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  let offset = 0;
  const entries = ordered.map((s) => {
    const begin = offset;
    offset += numel(s.shape) * DTYPE_SIZE[s.dtype];
    return { name: s.name, dtype: s.dtype, shape: [...s.shape], begin, end: offset };
  });
  // Built by hand: JSON.stringify of an object would move integer-like names ("0") to the front.
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const e of entries) {
    parts.push(
      `${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] })}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  header.set(json, 8);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, padded % 2 ** 32, true);
  dv.setUint32(4, Math.floor(padded / 2 ** 32), true);
  return { header, entries, fileSize: header.length + offset };
}

/** The little-endian bytes of one tensor. F32 and U8 are zero-copy views of `data`. */
export function encodeTensorData(dtype: WriteDtype, data: Float32Array | Uint8Array): Uint8Array {
  if (!LITTLE_ENDIAN) throw new UnsupportedDtypeError(dtype, 'big-endian hosts are not supported');
  if ((dtype === 'U8') !== data instanceof Uint8Array) throw new UnsupportedDtypeError(dtype, `${dtype} is written from ${dtype === 'U8' ? 'a Uint8Array' : 'a Float32Array'}`);
  if (data instanceof Uint8Array) return data;
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const half = float32ToFloat16Bits(data);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

/** A whole safetensors file in memory (fine for small models; Node streams big ones). */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const t of tensors) {
    if (t.data.length !== numel(t.shape)) {
      throw new InvalidHeaderError(`tensor "${t.name}" has ${t.data.length} values but shape ${fmtShape(t.shape)}`);
    }
  }
  const layout = layoutSafetensors(tensors, metadata);
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header);
  for (const e of layout.entries) {
    const t = byName.get(e.name)!;
    out.set(encodeTensorData(e.dtype, t.data), layout.header.length + e.begin);
  }
  return out;
}
