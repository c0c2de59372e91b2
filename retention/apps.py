from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = _("Retention")

    def ready(self) -> None:
        from chat import hooks

        from .status import retention_status

        # `/healthz` reports the purge's state under "retention" (chat knows no retention).
        hooks.register("health", lambda: {"retention": retention_status()})
