from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Customer service"

    def ready(self) -> None:
        from django.conf import settings

        from . import access, signals  # noqa: F401  (connect receivers and the chat hooks)

        access.role_map_check(settings.OIDC_ROLE_MAP)
