// @splitwise/runtime-web: onnxruntime-web behind core's RuntimeAdapter (browser only).
export { createWebRuntime, webGpuAvailable, type OrtWasmPaths, type WebBackend, type WebRuntime, type WebRuntimeOptions } from './web-runtime.ts';
