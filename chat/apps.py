from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat register")

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from . import layer_adapter, signals  # noqa: F401  (signals: audits admin changes)
        from .dsr_views import may_handle_data_requests
        from .staff_pages import StaffPage, staff_page_register

        # Every process understands the events other processes publish marked with their origin.
        layer_adapter.install()

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
