"""Showing a service's refusal on the page: each message next to its field, the rest flashed."""
from flask import flash


def show_record_error(form, exc) -> None:
    """Put every `exc.fields` message on its form field; flash the error and any field the form lacks."""
    elsewhere = []
    for name, message in exc.fields.items():
        if name in form:
            form[name].errors.append(message)
        else:
            elsewhere.append(message)
    if elsewhere or not exc.fields:
        flash(" ".join([str(exc), *elsewhere]), "danger")
