// Cutting weight matrices to the units a side owns. Every projection is [in, out] (x @ W), so a
// unit's output columns are a strided gather, and its input rows (of an output projection) are
// one contiguous block: a view when the owned ranges are adjacent, no copy.

export interface Range {
  start: number;
  width: number;
}

/** Merge adjacent ranges (the common case: a contiguous run of units is one range). */
export function mergeRanges(ranges: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (const r of ranges) {
    const last = out.at(-1);
    if (last && last.start + last.width === r.start) last.width += r.width;
    else out.push({ ...r });
  }
  return out;
}

const total = (ranges: readonly Range[]): number => ranges.reduce((a, r) => a + r.width, 0);

/** Columns `ranges` of W [rows, cols], in order: [rows, m]. W itself when that is all of it. */
export function gatherColumns(W: Float32Array, rows: number, cols: number, ranges: readonly Range[]): Float32Array {
  const rs = mergeRanges(ranges);
  if (rs.length === 1 && rs[0]!.start === 0 && rs[0]!.width === cols) return W;
  const m = total(rs), out = new Float32Array(rows * m);
  for (let r = 0; r < rows; r++) {
    let dst = r * m;
    for (const { start, width } of rs) {
      out.set(W.subarray(r * cols + start, r * cols + start + width), dst);
      dst += width;
    }
  }
  return out;
}

/** Rows `ranges` of W [rows, cols]: a view when they are one contiguous block. */
export function gatherRows(W: Float32Array, cols: number, ranges: readonly Range[]): Float32Array {
  const rs = mergeRanges(ranges);
  if (rs.length === 1) return W.subarray(rs[0]!.start * cols, (rs[0]!.start + rs[0]!.width) * cols);
  const out = new Float32Array(total(rs) * cols);
  let o = 0;
  for (const { start, width } of rs) {
    out.set(W.subarray(start * cols, (start + width) * cols), o);
    o += width * cols;
  }
  return out;
}

/** Elements `ranges` of a vector. */
export const gatherVector = (b: Float32Array, ranges: readonly Range[]): Float32Array => gatherRows(b, 1, ranges);

/** The ranges of `units` units of `width` each, offset by `base`. */
export const unitRanges = (units: readonly number[], width: number, base = 0): Range[] =>
  units.map((u) => ({ start: base + u * width, width }));

/** W [rows, cols] -> W^T [cols, rows] (nn.Linear's [out, in] to the engine's [in, out], and back). */
export function transpose(W: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = W[r * cols + c]!;
  return out;
}
