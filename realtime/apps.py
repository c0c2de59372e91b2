from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self) -> None:
        from . import layer_adapter

        # Every process understands the events other processes publish marked with their
        # origin, also one that has not published anything yet.
        layer_adapter.install()
