/**
 * The ONNX file format (protobuf messages from `onnx-proto`), for the one place that reads models (onnx-model.ts) and
 * the one that writes them (learn/export.ts).
 */
import onnxProto from 'onnx-proto';

export { onnxProto };
