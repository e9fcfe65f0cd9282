"""`python manage.py runengine [--bases NAME,...]`: an engine worker for a scale-out deployment."""
import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.catalog import base_model, base_models

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = ("Run an engine worker: load the base models and serve the web tier's generation and training "
            "requests over Redis (TIGER_ENGINE=workers on the web tier). One per GPU; stops on SIGTERM.")

    def add_arguments(self, parser):
        parser.add_argument("--bases", default="",
                            help="comma-separated base models to serve (name or id); default: all of them")
        parser.add_argument("--grace", type=float, default=30.0,
                            help="seconds a SIGTERM waits for running requests before stopping them")

    def handle(self, *args, bases: str, grace: float, **options):
        from inference.workers import coordination, server

        if not settings.REDIS_URL:
            raise CommandError("runengine needs REDIS_URL: workers and the web tier meet on the Redis channel layer.")
        names = [self._base(ref) for ref in bases.split(",") if ref.strip()] or [m.name for m in base_models()]
        self._reconcile(coordination.live_workers())
        server.serve(names, grace=grace)

    def _base(self, ref: str) -> str:
        model = base_model(ref)
        if model is None:
            known = ", ".join(m.name for m in base_models())
            raise CommandError(f"Unknown base model {ref.strip()!r}; the base models are: {known}.")
        return model.name

    def _reconcile(self, others: list[dict]) -> None:
        """Remove adapter directories no revision names (a crash between writing and committing one),
        as the web tier does at start. Only when no other worker runs: a running one may be writing a
        revision whose row is not committed yet, and that directory must not go."""
        from inference.revisions import reconcile_adapter_dirs

        if others:
            log.info("%d other engine workers are running: adapter directories are left as they are", len(others))
            return
        reconcile_adapter_dirs()
