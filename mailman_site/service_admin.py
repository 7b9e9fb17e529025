"""The base of our ModelAdmins: saves go through the services, and a
service's refusal is shown on the form instead of failing with a 500.

The admin never writes rows itself: each save and delete calls the service
function that the API and the management commands call too.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest, HttpResponse

from lists.services import ListError
from members.services import MembershipError

SERVICE_ERRORS = (ListError, MembershipError)
REFUSAL_ATTRIBUTE = "_service_refusal"


def adopt(target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved `target` stand for the row a service saved,
    so the rest of the admin view (inlines, history, redirect) refers to it."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class RefusalForm:
    """Mixed into an admin form to show a service's refusal as its errors."""

    refusal: Exception
    refusal_fields: dict[type[Exception], str]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        errors = getattr(self.refusal, "errors", None)
        if not errors:
            errors = {self.refusal_fields.get(type(self.refusal), ""): [str(self.refusal)]}
        for name, messages in errors.items():
            self.add_error(name if name in self.fields else None, messages)
        return cleaned


class ServiceModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves go through the services.

    Forms check what they can, but a service may still refuse (a ban, a rule
    only it knows, a concurrent change). The view's transaction is then
    rolled back and the form shown again with the refusal as its error.
    """

    # The form field a refusal belongs to, when it carries no field errors.
    refusal_fields: dict[type[Exception], str] = {}

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SERVICE_ERRORS as exc:
            setattr(request, REFUSAL_ATTRIBUTE, exc)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return form
        return type(form.__name__, (RefusalForm, form), {"refusal": refusal, "refusal_fields": self.refusal_fields})
