"""The Serve applications that settings describe: one per base model, named `<prefix>-<model id>`.

`application_args` is the dictionary that deployment.build() takes: `manage.py deployengine` passes it to
serve.run, `manage.py deployengine --write-config` writes it into a Serve config file for `serve deploy`.
"""
from __future__ import annotations

import dataclasses
import os

from django.conf import settings

from inference.catalog import base_models, model_id

IMPORT_PATH = "inference.serve.deployment:build"


def app_name(base: str) -> str:
    return f"{settings.TIGER['RAY_APP_PREFIX']}-{model_id(base)}"


@dataclasses.dataclass(frozen=True)
class Scaling:
    """How many replicas, and what each reserves on the cluster."""

    replicas: int = 1  # fixed number of replicas (when max_replicas is not set)
    min_replicas: int = 1  # autoscaling: Serve adds replicas while each has more than target_ongoing
    max_replicas: int | None = None  # requests in flight, and removes them (down to min) when idle
    target_ongoing: float | None = None  # default: half of max_ongoing
    max_ongoing: int | None = None  # requests one replica takes at once (default: TIGER_MAX_BATCH_SIZE)
    num_cpus: float = 1.0
    num_gpus: float = 0.0  # 1 on a GPU cluster: each replica's Engine gets its own device

    def deployment_options(self) -> dict:
        max_ongoing = self.max_ongoing or settings.TIGER["MAX_BATCH_SIZE"]
        options = {
            # Serve routes a request only to a replica with fewer than this many in flight; the rest wait in
            # the caller's queue (up to max_queued_requests, then BackPressureError: a 503) for the first
            # replica that frees a slot. Trainings count too: a replica that trains still decodes.
            "max_ongoing_requests": max_ongoing,
            "max_queued_requests": settings.TIGER["MAX_QUEUE"],
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
        }
        if self.max_replicas:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing or max(1.0, max_ongoing / 2),
                "upscale_delay_s": 10, "downscale_delay_s": 300,
            }
        else:
            options["num_replicas"] = self.replicas
        return options


def application_args(base: str, scaling: Scaling = Scaling()) -> dict:
    """The arguments of `base`'s application, from settings (the web tier must run with the same ones)."""
    from inference.engine_factory import engine_config

    catalog = {m.name: m.checkpoint for m in base_models()}
    options = scaling.deployment_options()
    failpoints = os.environ.get("TIGER_FAILPOINT_DIR")
    if failpoints:  # the crash tests arm replicas through files (tigercity/failpoints.py)
        options["ray_actor_options"]["runtime_env"] = {"env_vars": {"TIGER_FAILPOINT_DIR": failpoints}}
    return {
        "bases": {base: catalog[base]},
        "engine": dataclasses.asdict(engine_config()),
        "engine_process": settings.TIGER["ENGINE_PROCESS"],
        "deployment": options,
    }


def applications(bases: list[str] | None = None, scaling: Scaling = Scaling()) -> list[dict]:
    """Serve config entries (name, import_path, args) for `bases` (default: every configured base model)."""
    names = bases or [m.name for m in base_models()]
    return [{"name": app_name(base), "import_path": IMPORT_PATH, "route_prefix": None,
             "args": application_args(base, scaling)} for base in names]
