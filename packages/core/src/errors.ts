// Typed errors, WebLLM-style: each class names the facts and what to do next, and carries a
// stable `code` so the wire can carry {code, message} and rebuild the class on the other side.

export class SplitwiseError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** config.json is not a GPT-2 config we can run. */
export class InvalidConfigError extends SplitwiseError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}

/** A PartitionPlan that does not fit the model, or is malformed. */
export class InvalidPlanError extends SplitwiseError {
  constructor(message: string) {
    super('invalid_plan', message);
  }
}

/** A tensor with the wrong dtype, shape or length for the place it is used. */
export class TensorShapeError extends SplitwiseError {
  constructor(message: string) {
    super('tensor_shape', message);
  }
}

/** The sequence would exceed the model's context window. */
export class ContextLengthError extends SplitwiseError {
  constructor(
    readonly requested: number,
    readonly limit: number,
  ) {
    super('context_length', `sequence of ${requested} tokens exceeds the model's context of ${limit} (n_positions)`);
  }
}

/** The executor was used out of order (decode before prefill, unknown session, ...). */
export class ExecutorStateError extends SplitwiseError {
  constructor(message: string) {
    super('executor_state', message);
  }
}

/** A runtime (onnxruntime-node/web) failed to create a session or run a graph. */
export class RuntimeError extends SplitwiseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('runtime', message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The link between edge and cloud failed (closed, timed out, remote error). */
export class LinkError extends SplitwiseError {
  constructor(message: string, code = 'link') {
    super(code, message);
  }
}

/**
 * Quantized weights that cannot be used as asked: a precision we do not know, a quantized layout
 * made for another FFN chunking, rows of a subset that cut a quantized block, a checkpoint
 * quantized twice.
 */
export class QuantizationError extends SplitwiseError {
  constructor(message: string) {
    super('quantization', message);
  }
}
