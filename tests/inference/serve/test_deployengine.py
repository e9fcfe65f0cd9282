"""`manage.py deployengine --write-config`: the Serve config file, without a cluster."""
import pytest

yaml = pytest.importorskip("yaml")
from django.core.management import call_command  # noqa: E402


@pytest.fixture
def catalog(settings, tmp_path):
    settings.TIGER = {**settings.TIGER, "RAY_APP_PREFIX": "site", "MAX_BATCH_SIZE": 12, "MAX_QUEUE": 40,
                      "ADAPTER_CACHE_SIZE": 5, "ENGINE_PROCESS": True,
                      "BASE_MODELS": {"Llama-3.1-8b": str(tmp_path / "llama")}}


def test_the_config_file_has_one_application_per_base_model_with_the_sites_engine_settings(catalog, tmp_path):
    path = tmp_path / "serve.yaml"
    call_command("deployengine", "--write-config", str(path), "--max-replicas", "4", "--num-gpus", "1")
    config = yaml.safe_load(path.read_text())
    schema = pytest.importorskip("ray.serve.schema")
    schema.ServeDeploySchema.model_validate(config)  # what `serve deploy` and KubeRay check it against
    assert config["proxy_location"] == "Disabled"  # the web tier calls through deployment handles
    apps = {app["name"]: app for app in config["applications"]}
    llama = apps["site-llama-3.1-8b"]
    assert llama["import_path"] == "inference.serve.deployment:build"
    args = llama["args"]
    assert args["bases"] == {"Llama-3.1-8b": str(tmp_path / "llama")}
    assert args["engine"]["max_batch_size"] == 12 and args["engine"]["adapter_cache_size"] == 5
    deployment = args["deployment"]
    assert deployment["max_ongoing_requests"] == 12 and deployment["max_queued_requests"] == 40
    assert deployment["ray_actor_options"]["num_gpus"] == 1
    assert deployment["autoscaling_config"]["max_replicas"] == 4 and "num_replicas" not in deployment


def test_an_unknown_base_model_is_refused_with_the_known_ones(catalog, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Llama-3.1-8b"):
        call_command("deployengine", "--write-config", str(tmp_path / "x.yaml"), "--bases", "gpt-9")
