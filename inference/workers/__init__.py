"""Scale-out: the engine in worker processes (`manage.py runengine`), reached over the Redis channel layer.

protocol.py (channels, message shapes, the wire codec), client.py (WorkerRuntime, the web side),
server.py (EngineServer, the worker side), coordination.py (the training lock, claims, the worker list).
"""
