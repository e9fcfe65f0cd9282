"""Per-user caps: what one account may hold (API keys, models, stored adapter bytes, dataset files) and
run at once (generations, trainings, fine-tuning jobs). Every cap is a setting of settings.TIGER
(environment: TIGER_<name>, README: Configuration) and an exceeded one is answered with the one error
object below, which names the cap and its value.

A feature with a cap of its own adds a Quota here and calls `check(used)` before it writes, or holds
`acquire(user_id)` while it runs.
"""
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from tigercity.errors import ApiError

TYPES = {403: "permission_error", 413: "invalid_request_error", 429: "rate_limit_error"}


class QuotaExceeded(ApiError):
    """403 (an account holds as many as it may), 413 (bytes), 429 (running at once: retry later)."""

    def __init__(self, quota: "Quota", used: int, adding: int):
        self.status = quota.status
        self.type = TYPES[quota.status]
        self.quota = quota
        more = f", and this needs {quota.format(adding)} more" if quota.unit else ""
        message = (f"Your {quota.what}: {quota.format(used)} of at most {quota.format(quota.limit)}{more} "
                   f"(the limit TIGER_{quota.name} is {quota.limit}). {quota.advice}")
        headers = {"Retry-After": str(quota.retry_after)} if quota.status == 429 else None
        super().__init__(message.strip(), param=quota.param, code=quota.code, headers=headers)


def lock_row(model_class, pk: int) -> None:
    """Lock one row (the owner's, or the model's for a cap per model) until the transaction ends, so that
    requests counting against a cap take turns: otherwise two at once can both take the last place.
    Django drops FOR UPDATE from count() and aggregate(), so the lock is taken by a plain select first.
    PostgreSQL's row lock; SQLite runs one write transaction at a time anyway."""
    list(model_class.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True))


def lock_owner(owner) -> None:
    """lock_row of the user whose caps are about to be counted."""
    from django.contrib.auth import get_user_model

    lock_row(get_user_model(), owner.pk)


@dataclass(frozen=True)
class Quota:
    name: str  # the key in settings.TIGER; the environment variable is TIGER_<name>
    what: str  # what is counted, in words: "active API keys"
    code: str  # the error object's code
    status: int = 403
    param: str | None = None
    advice: str = ""
    unit: str = ""  # "bytes": shown with a binary prefix as well
    retry_after: int = 1  # seconds, for a 429: about how long what holds the slot takes

    @property
    def limit(self) -> int:
        return settings.TIGER[self.name]

    def format(self, n: int) -> str:
        if self.unit != "bytes" or n < 1024:
            return str(n)
        size, prefix = float(n), ""
        for prefix in ("KiB", "MiB", "GiB", "TiB"):
            size /= 1024
            if size < 1024:
                break
        return f"{n} ({size:.1f} {prefix})"

    def check(self, used: int, adding: int = 1) -> None:
        """Raise QuotaExceeded if `used` plus `adding` more would go over the limit."""
        if used + adding > self.limit:
            raise QuotaExceeded(self, used, adding)

    def acquire(self, user_id: int) -> Callable[[], None]:
        """Take one of the user's slots of this cap (counted in this process: with several web
        processes the cap applies to each), or raise; returns the function that gives it back (once)."""
        key = (self.name, user_id)
        with _lock:
            self.check(_running[key])
            _running[key] += 1
        released = False

        def release() -> None:
            nonlocal released
            with _lock:
                if not released:
                    released = True
                    _running[key] -= 1
                    if _running[key] <= 0:
                        del _running[key]

        return release

    def in_use(self, user_id: int) -> int:
        with _lock:
            return _running[(self.name, user_id)]


_running: Counter = Counter()
_lock = threading.Lock()

API_KEYS = Quota("MAX_KEYS_PER_USER", "active API keys", "too_many_api_keys",
                 advice="Revoke one you no longer use.")
MODELS = Quota("MAX_MODELS_PER_USER", "models", "too_many_models", advice="Delete one you no longer use.")
GENERATIONS = Quota("MAX_CONCURRENT_GENERATIONS", "generations running at once", "too_many_concurrent_generations",
                    status=429, advice="Wait for one to finish.")
TRAININGS = Quota("MAX_TRAININGS_PER_USER", "trainings running or waiting", "too_many_trainings", status=429,
                  advice="Wait for one to finish.")
ADAPTER_BYTES = Quota("MAX_ADAPTER_BYTES_PER_USER", "stored adapter weights, in bytes",
                      "adapter_storage_full", status=413, unit="bytes",
                      advice="Delete models you no longer use, or keep fewer revisions.")
DATASET_FILES = Quota("MAX_FILES", "dataset files", "too_many_files", status=413, param="file",
                      advice="Delete some you no longer use.")
DATASET_BYTES = Quota("MAX_STORED_FILE_BYTES", "stored dataset files, in bytes", "storage_limit_exceeded",
                      status=413, param="file", unit="bytes", advice="Delete some you no longer use.")
# A job takes about a minute on the demo weights, far longer on real ones: no point retrying sooner.
FINETUNE_JOBS = Quota("MAX_ACTIVE_JOBS", "fine-tuning jobs queued or running", "too_many_jobs", status=429,
                      retry_after=30, advice="Wait for one to finish, or cancel one.")
# Not refused: the runner leaves a user's further jobs queued while this many of theirs run.
RUNNING_JOBS = Quota("MAX_RUNNING_JOBS", "fine-tuning jobs running at once", "too_many_running_jobs", status=429)
