"""Baseline A: the straightforward plain-Channels chat the performance issue compares against.

One AsyncJsonWebsocketConsumer per side, `database_sync_to_async(Message.objects.create)`, then
`group_send` on channels-redis's core RedisChannelLayer. It is deliberately not optimised.
"""
