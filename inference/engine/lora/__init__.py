"""LoRA: mixed-batch layers (several adapters in one forward), the adapter manager (LRU on the device), and
adapter directories on disk (create, copy, save)."""
