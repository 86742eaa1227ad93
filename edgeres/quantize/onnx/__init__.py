"""INT8 ONNX: ONNX Runtime's static QDQ quantizer, the compaction pass, per-layer errors."""
