"""The engine as a Ray Serve application (TIGER_ENGINE=ray).

deployment.py is what runs on the cluster: a thin Serve shell over one Engine per replica; it imports
nothing from Django. runtime.py is the web tier's side (the runtime interface of inference/runtime.py
over deployment handles); application.py turns Django settings into the application's arguments.
"""
