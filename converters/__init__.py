"""Pruning, quantization-aware training, TFLite conversion, Edge TPU readiness and validation."""
