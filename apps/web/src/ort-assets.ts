// URLs of onnxruntime-web's own glue scripts and binaries, emitted by Vite as plain assets. The
// runtime points ORT at them so that its WASM thread workers start from these self-contained
// files rather than from a bundle chunk (see packages/runtime-web/src/web-runtime.ts).
import type { OrtWasmPaths, WebBackend } from '@splitwise/runtime-web';
import wasmMjs from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import wasmBin from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import gpuMjs from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';
import gpuBin from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

export const ORT_WASM_PATHS: Record<WebBackend, OrtWasmPaths> = {
  wasm: { mjs: wasmMjs, wasm: wasmBin },
  webgpu: { mjs: gpuMjs, wasm: gpuBin },
};
