// Typed checkpoint errors. Every message names the file (and tensor, where there is one) and
// the problem, so a user can tell a truncated download from a wrong model from a bad converter.
import { SplitwiseError } from '@splitwise/core';

/** Base class of everything that can go wrong reading or writing a checkpoint. */
export class CheckpointError extends SplitwiseError {}

/**
 * The file ends before what it promises: fewer than 8 bytes, a header length that runs past the
 * end, or tensor data past the end. (A header length that points past the end of the file cannot be
 * told apart from a file cut inside its header, so both read as truncation.)
 */
export class TruncatedFileError extends CheckpointError {
  constructor(message: string) {
    super('checkpoint_truncated', message);
  }
}

/**
 * The header is not what the safetensors spec allows: not UTF-8 JSON, entries of the wrong form,
 * offsets reversed / overlapping / leaving gaps / not matching dtype * shape, bytes left over after
 * the last tensor, or an absurd header length.
 */
export class InvalidHeaderError extends CheckpointError {
  constructor(message: string) {
    super('checkpoint_invalid_header', message);
  }
}

/** A tensor the model needs is not in any of the files. */
export class MissingTensorError extends CheckpointError {
  constructor(
    readonly tensor: string,
    message: string,
  ) {
    super('checkpoint_missing_tensor', message);
  }
}

/** A tensor is present but its shape is not the one the config implies. */
export class WrongShapeError extends CheckpointError {
  constructor(
    readonly tensor: string,
    readonly expected: readonly number[],
    readonly actual: readonly number[],
    message: string,
  ) {
    super('checkpoint_wrong_shape', message);
  }
}

/** A dtype we cannot read (unknown to the spec, or not a float type where floats are needed). */
export class UnsupportedDtypeError extends CheckpointError {
  constructor(
    readonly dtype: string,
    message: string,
  ) {
    super('checkpoint_unsupported_dtype', message);
  }
}

/** The same tensor appears twice (in two shards, or with and without the "transformer." prefix). */
export class DuplicateTensorError extends CheckpointError {
  constructor(
    readonly tensor: string,
    message: string,
  ) {
    super('checkpoint_duplicate_tensor', message);
  }
}

/** A file the checkpoint directory must contain is not there (Node loader only). */
export class MissingFileError extends CheckpointError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super('checkpoint_missing_file', message);
  }
}

/**
 * A llama2.c checkpoint (the legacy version-0 `.bin`) whose header is impossible or disagrees with
 * the file: non-positive sizes, dim not divisible by the heads, an odd head size, bytes left over
 * after the last tensor, a non-finite weight, or a newer llama2.c export format we do not read.
 */
export class InvalidLlama2cCheckpointError extends CheckpointError {
  constructor(message: string) {
    super('checkpoint_llama2c_invalid', message);
  }
}

/**
 * A llama2.c tokenizer file (`tokenizer.bin`, `tok512.bin`) that is not one: a bad max token
 * length, a negative or over-long piece, a piece that is not UTF-8, duplicate pieces, bytes left
 * over, or a vocabulary that lacks llama2.c's layout (<unk>, <s>, </s>, then the 256 byte pieces).
 */
export class InvalidLlama2cTokenizerError extends CheckpointError {
  constructor(message: string) {
    super('checkpoint_llama2c_tokenizer_invalid', message);
  }
}
