import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helao_chat.settings")

app = Celery("helao_chat")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_configure.connect
def _make_broker_folders(sender, **kwargs) -> None:
    # The embedded broker keeps its queue in folders; they must exist before anyone connects.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


app.autodiscover_tasks()
