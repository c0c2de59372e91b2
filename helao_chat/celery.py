import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helao_chat.settings")

if os.environ.get("DJANGO_DEBUG", "1").strip().lower() in ("1", "true", "yes", "on"):
    # Development (`make run`, often as root in a container): Celery's multi-line warning about
    # running as root buries the startup output. Production (DJANGO_DEBUG=0) keeps it.
    warnings.filterwarnings("ignore", category=SecurityWarning)

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


@beat_init.connect
def _purge_at_start(sender, **kwargs) -> None:
    # The first purge runs when beat starts, not one interval later: a fresh install shows a
    # recorded run at once, and one back from a stop deletes what expired meanwhile.
    sender.app.send_task("chat.tasks.purge_expired")
