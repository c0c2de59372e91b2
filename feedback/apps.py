from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = _("Quick feedback")

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from chat.staff_pages import StaffPage, staff_page_register

        from . import hooks
        from .views import may_read_reports

        hooks.register()
        staff_page_register(
            StaffPage("reports", "feedback:reports", _("Reports"), may_read_reports, 30)
        )
