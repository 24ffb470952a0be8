// The predictor imports its ONNX model; budgetml bundles such files as their bytes.
declare module "*.onnx" {
  const bytes: Uint8Array;
  export default bytes;
}
