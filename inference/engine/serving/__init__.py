"""Serving: the engine facade, one decode loop per base model, scheduling, batching, KV cache, sampling and
detokenisation of generation requests."""
