"""`python manage.py deployengine`: deploy (or update) the engine's Serve applications on a Ray cluster."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.catalog import base_model, base_models


class Command(BaseCommand):
    help = ("Deploy the engine as Ray Serve applications, one per base model (TIGER_ENGINE=ray on the web "
            "tier), and wait until each is running; or write them to a Serve config file for `serve deploy`. "
            "Run it again with other settings to update them (Serve replaces replicas one by one).")

    def add_arguments(self, parser):
        parser.add_argument("--address", default="", help="the Ray cluster (default: TIGER_RAY_ADDRESS, 'auto')")
        parser.add_argument("--bases", default="", help="comma-separated base models (name or id); default: all")
        parser.add_argument("--replicas", type=int, default=1, help="replicas per base model (fixed)")
        parser.add_argument("--min-replicas", type=int, default=1, help="autoscaling: fewest replicas")
        parser.add_argument("--max-replicas", type=int, default=0, help="autoscaling: most replicas (0: no autoscaling)")
        parser.add_argument("--target-ongoing", type=float, default=0.0,
                            help="autoscaling: requests in flight per replica to aim for (default: half of --max-ongoing)")
        parser.add_argument("--max-ongoing", type=int, default=0,
                            help="requests one replica takes at once (default: TIGER_MAX_BATCH_SIZE)")
        parser.add_argument("--num-cpus", type=float, default=1.0, help="CPUs each replica reserves")
        parser.add_argument("--num-gpus", type=float, default=0.0, help="GPUs each replica reserves (1 on a GPU cluster)")
        parser.add_argument("--write-config", default="", metavar="FILE",
                            help="write a Serve config file instead of deploying (then: serve deploy FILE)")

    def handle(self, *args, address: str, bases: str, write_config: str, **options):
        from inference.serve.application import Scaling, applications

        names = [self._base(ref) for ref in bases.split(",") if ref.strip()] or [m.name for m in base_models()]
        scaling = Scaling(replicas=options["replicas"], min_replicas=options["min_replicas"],
                          max_replicas=options["max_replicas"] or None, target_ongoing=options["target_ongoing"] or None,
                          max_ongoing=options["max_ongoing"] or None, num_cpus=options["num_cpus"],
                          num_gpus=options["num_gpus"])
        apps = applications(names, scaling)
        if write_config:
            self._write(write_config, apps)
            return
        self._deploy(address or settings.TIGER["RAY_ADDRESS"], apps)

    def _write(self, path: str, apps: list[dict]) -> None:
        import yaml

        config = {"proxy_location": "Disabled", "applications": apps}  # the web tier calls through handles
        with open(path, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        self.stdout.write(f"wrote {len(apps)} applications to {path}; deploy them with: serve deploy {path}")

    def _deploy(self, address: str, apps: list[dict]) -> None:
        import ray
        from ray import serve

        from inference.serve.deployment import build

        try:
            ray.init(address=address, namespace="tigercity", log_to_driver=False)
        except ConnectionError as e:
            raise CommandError(f"No Ray cluster at {address!r}: {e}") from e
        serve.start(proxy_location="Disabled")
        for app in apps:
            self.stdout.write(f"deploying {app['name']} ...")
            serve.run(build(app["args"]), name=app["name"], route_prefix=None)
            self.stdout.write(f"{app['name']} is running")

    def _base(self, ref: str) -> str:
        model = base_model(ref)
        if model is None:
            known = ", ".join(m.name for m in base_models())
            raise CommandError(f"Unknown base model {ref.strip()!r}; the base models are: {known}.")
        return model.name
