# The websocket at ramascene/ (CMLPlatform/ramascene, ramascene/consumers.py): the real
# one takes a query and answers when its Celery job is done; the stand-in answers at once.
import json

from channels.generic.websocket import WebsocketConsumer


class RamasceneConsumer(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        query = json.loads(text_data or "{}")
        self.send(text_data=json.dumps({"action": "ack", "query": query}))
