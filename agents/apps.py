from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = _("Customer service")

    def ready(self) -> None:
        from django.conf import settings

        from . import access, pages, signals  # noqa: F401  (connect receivers and the chat hooks)

        access.role_map_check(settings.OIDC_ROLE_MAP)
        pages.register()
