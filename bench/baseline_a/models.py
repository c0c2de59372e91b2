from django.db import models


class Message(models.Model):
    conversation_id = models.BigIntegerField(db_index=True)
    sender = models.CharField(max_length=8)
    text = models.TextField()
    client_msg_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "baseline_a"
