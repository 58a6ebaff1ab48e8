"""footfall's Python SDK: send events to a footfall collector from a Python application.

    from footfall.client import Client

    client = Client("https://footfall.example.com", "G-XXXXXXXXXX", api_secret="ffs_...")
    client.track("sign_up", {"method": "email"}, client_id="1.1")
    client.close()  # also runs at interpreter exit

``AsyncClient`` is the asyncio variant. Importing this package starts nothing and needs only
httpx and msgspec; the threads (or tasks) start with the first event. See docs/client.md.
"""

from footfall.client.aio import AsyncClient
from footfall.client.delivery import Stats
from footfall.client.options import DEFAULT_USER_AGENT, Options
from footfall.client.sync import Client

__all__ = ["DEFAULT_USER_AGENT", "AsyncClient", "Client", "Options", "Stats"]
