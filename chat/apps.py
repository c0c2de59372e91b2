from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat register")

    def ready(self) -> None:
        from . import signals  # noqa: F401  (audits admin changes)
