"""The inference engine: pure torch + transformers + peft. Never imports Django."""
