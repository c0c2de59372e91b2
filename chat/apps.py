from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat register"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (audits admin changes)
