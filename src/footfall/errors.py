"""Errors answered to clients, in Google's JSON shape: ``{"error": {"code", "message", "status"}}``."""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error answered to the client; ``message`` must never contain a secret."""

    def __init__(
        self, code: int, message: str, status: str | None = None, *, retry_after: int = 1
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def invalid(message: str) -> ApiError:
    return ApiError(400, message)
