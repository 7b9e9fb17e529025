"""Every API error is JSON: {"message": "...", "errors": {field: [...]}}.

`errors` appears when the problem is with named fields. The services'
exceptions are turned into HTTP statuses here, in one table.
"""

from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

from lists import services as list_services
from members import services as member_services
from members import workflows
from messages.outgoing import SendError

# First match wins, so subclasses come before their bases.
SERVICE_ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (list_services.UnknownList, status.HTTP_404_NOT_FOUND),
    # Only request bodies name domains (URLs resolve their own), so an unknown one is bad input.
    (list_services.UnknownDomain, status.HTTP_400_BAD_REQUEST),
    (list_services.ListAlreadyExists, status.HTTP_409_CONFLICT),
    (list_services.DomainAlreadyExists, status.HTTP_409_CONFLICT),
    (list_services.DomainHasLists, status.HTTP_409_CONFLICT),
    (list_services.ListError, status.HTTP_400_BAD_REQUEST),
    (member_services.AlreadySubscribed, status.HTTP_409_CONFLICT),
    (member_services.AddressUnavailable, status.HTTP_409_CONFLICT),
    (member_services.NotSubscribed, status.HTTP_404_NOT_FOUND),
    (workflows.RequestAlreadyDecided, status.HTTP_409_CONFLICT),
    (member_services.MembershipError, status.HTTP_400_BAD_REQUEST),
    # A mail the request needed could not go out; its transaction is rolled back.
    (SendError, status.HTTP_503_SERVICE_UNAVAILABLE),
]


def json_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, with service errors mapped and every body in one shape."""
    for error_class, code in SERVICE_ERROR_STATUS:
        if isinstance(exc, error_class):
            body = {"message": str(exc)}
            field_errors = getattr(exc, "errors", None)
            if field_errors:
                body["errors"] = field_errors
            set_rollback()
            return Response(body, status=code)
    response = exception_handler(exc, context)
    if response is not None:
        response.data = error_body(exc, response.data)
    return response


def error_body(exc: Exception, detail: object) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            return {"message": validation_message(detail), "errors": detail}
        return {"message": " ".join(str(item) for item in detail) if isinstance(detail, list) else str(detail)}
    if isinstance(detail, dict) and "detail" in detail:
        return {"message": str(detail["detail"])}
    return {"message": str(detail)}


def validation_message(errors: dict) -> str:
    """Errors that concern no one field, then the names of the fields at fault."""
    parts = [str(message) for message in errors.get(api_settings.NON_FIELD_ERRORS_KEY, [])]
    fields = sorted(str(name) for name in errors if name != api_settings.NON_FIELD_ERRORS_KEY)
    if fields:
        parts.append(_("Invalid input in: %(fields)s.") % {"fields": ", ".join(fields)})
    return " ".join(parts)
