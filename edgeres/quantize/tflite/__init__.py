"""INT8 TFLite: PT2E through litert-torch, float I/O rewriting, and layers kept in float (AI Edge Quantizer)."""
