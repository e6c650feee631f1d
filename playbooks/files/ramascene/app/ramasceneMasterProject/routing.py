# `channel_routing` (CMLPlatform/ramascene, ramasceneMasterProject/routing.py): HTTP to
# Django, the websocket at ramascene/ to RamasceneConsumer.
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

http = get_asgi_application()

from ramascene.consumers import RamasceneConsumer  # noqa: E402

channel_routing = ProtocolTypeRouter(
    {
        "http": http,
        "websocket": URLRouter([path("ramascene/", RamasceneConsumer.as_asgi())]),
    }
)
