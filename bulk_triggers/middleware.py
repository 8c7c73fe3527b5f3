"""``OperationContextMiddleware``: attach the request's user to every operation it causes.

Optional: add ``"bulk_triggers.middleware.OperationContextMiddleware"`` to ``MIDDLEWARE``
after ``AuthenticationMiddleware``. Nothing in the core imports this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from bulk_triggers.operation import context

__all__ = ["OperationContextMiddleware"]


class OperationContextMiddleware:
    """Run each request inside ``bulk_triggers.context(actor=<user pk>)``.

    ``actor`` is the authenticated user's primary key, or ``None`` for an anonymous
    request or one without ``request.user``. Works under WSGI and ASGI.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        with context(actor=_actor(request)):
            return self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        # request.user may load the session from the database: not from an event loop.
        auser = getattr(request, "auser", None)
        user = await auser() if auser is not None else getattr(request, "user", None)
        with context(actor=_pk(user)):
            response: Awaitable[Any] = self.get_response(request)
            return await response


def _actor(request: Any) -> Any:
    return _pk(getattr(request, "user", None))


def _pk(user: Any) -> Any:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk
