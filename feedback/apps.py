from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Quick feedback"

    def ready(self) -> None:
        from . import hooks

        hooks.register()
