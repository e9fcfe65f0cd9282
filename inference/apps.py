from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Models and training"

    def ready(self):
        from inference import signals

        signals.connect()
