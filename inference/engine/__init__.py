"""The inference engine: pure torch + transformers + peft. Never imports Django."""

import os

# Weights load from local directories only. Without this, transformers and peft still look up a
# model hub for some files (e.g. peft checking a base's config when saving an adapter).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
