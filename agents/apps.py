from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Customer service"

    def ready(self) -> None:
        from . import access, pages, signals  # noqa: F401  (connect receivers and the chat hooks)

        pages.register()
