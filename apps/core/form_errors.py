"""Showing a service's refusal on the page: each message next to its field, the rest flashed."""
from flask import flash

from apps.core.errors import ServiceError
from apps.core.types import db


def save_record(form, change):
    """Run `change()` (a service call) and commit; when it raises a ServiceError, roll back, show the
    refusal on `form` (show_service_error) and return None. Otherwise return what `change` returned."""
    try:
        result = change()
        db.session.commit()
        return result
    except ServiceError as exc:
        db.session.rollback()
        show_service_error(form, exc)
        return None


def show_service_error(form, exc: ServiceError) -> None:
    """Put every `exc.fields` message on its form field; flash the error and any field the form lacks."""
    elsewhere = []
    for name, message in exc.fields.items():
        if name in form:
            form[name].errors.append(message)
        else:
            elsewhere.append(message)
    if elsewhere or not exc.fields:
        flash(" ".join([str(exc), *elsewhere]), "danger")
