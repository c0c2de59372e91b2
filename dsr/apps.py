from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DsrConfig(AppConfig):
    name = "dsr"
    verbose_name = _("Data-subject requests")

    def ready(self) -> None:
        from chat.staff_pages import StaffPage, staff_page_register

        from .views import may_handle_data_requests

        staff_page_register(
            StaffPage(
                "requests",
                "dsr:search",
                _("Data-subject requests"),
                may_handle_data_requests,
                40,
                views=("dsr:*",),
            )
        )
