"""`manage.py runengine` refuses what it cannot serve before loading anything (the real run is in
test_scale_out.py)."""
import pytest
from django.core.management import CommandError, call_command


def test_without_redis_it_says_that_workers_need_redis(settings):
    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("runengine")


def test_an_unknown_base_model_is_refused_with_the_known_ones(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    with pytest.raises(CommandError, match="Unknown base model 'gpt-9'.*Llama-3.1-8b.*DeepSeek-R1-8b"):
        call_command("runengine", "--bases", "llama-3.1-8b,gpt-9")
