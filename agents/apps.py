from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Customer service"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the role sync and availability hook)
