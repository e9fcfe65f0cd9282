"""Builds the demo weights shipped in inference/engine/demo/weights/ (not part of the runtime)."""
