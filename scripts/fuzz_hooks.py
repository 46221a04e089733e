"""Schemathesis hooks for scripts/fuzz-api.sh (loaded through SCHEMATHESIS_HOOKS).

A lens order needs an active spectacle prescription that has not expired. Bodies generated
from the RxData schema are drafts, contact-lens or expired prescriptions three times in four,
so the stateful phase almost never reached an order. Half of the generated prescriptions are
nudged into an orderable one here; the other half stay as generated. Nothing else is changed:
every other body is fuzzed exactly as the OpenAPI document describes it.
"""

import random

import schemathesis


@schemathesis.hook("map_body").apply_to(operation_id="prescriptions.create_prescription")
def orderable_half_the_time(context, body):
    if isinstance(body, dict) and random.random() < 0.5:
        body["status"] = "active"
        body["kind"] = "spectacle"
        body["expiry_date"] = None
        for eye in ("right", "left"):
            if isinstance(body.get(eye), dict):
                for field in ("power", "base_curve", "diameter"):
                    body[eye].pop(field, None)
        body.pop("contact_lens", None)
    return body
