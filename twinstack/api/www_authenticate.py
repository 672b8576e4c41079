"""Every 401, from any service, says where to log in: ``WWW-Authenticate: Keystone uri="<identity>"``.

keystonemiddleware adds this header to each 401 of the services it guards, so a client refused by
compute or the image service learns the identity endpoint as it would from Keystone itself. A plain
ASGI middleware on the outer application; a 401 that already names a realm is left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class WWWAuthenticateMiddleware:
    def __init__(self, app: ASGIApp, identity_url: str) -> None:
        self.app = app
        self.header = (b"www-authenticate", f'Keystone uri="{identity_url}"'.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_realm(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"www-authenticate" for name, _ in headers):
                    message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, send_with_realm)
