"""``audit_model_edits``: audit changes to ``models/{id}`` that did not come through the API.

Admins edit models by hand in the Firestore console; this trigger records
those edits in ``audit/`` too. API writes carry their own record and a marker,
so they are not recorded twice; a console record's id comes from the event's
id, so an event delivered twice (Eventarc delivers at least once) is recorded once.
"""

from __future__ import annotations

from firebase_functions import firestore_fn


@firestore_fn.on_document_written(document="models/{modelId}")
def audit_model_edits(event: firestore_fn.Event[firestore_fn.Change[firestore_fn.DocumentSnapshot | None]]) -> None:
    from gateway import audit

    change = event.data
    audit.record_console_change("models", event.params["modelId"], change.before, change.after, event.id)
