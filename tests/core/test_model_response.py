"""``core.api.model_response``: a route's pydantic answer serialised by pydantic in one step, with
the same JSON ``jsonify`` of its ``model_dump(mode="json")`` gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Flask, jsonify
from pydantic import BaseModel

from clinic_app.core.api import model_response


class Inner(BaseModel):
    when: datetime
    ratio: float


class Outer(BaseModel):
    name: str
    count: int
    missing: str | None
    inner: list[Inner]
    extra: dict[str, object]


def _both(model: BaseModel) -> tuple[object, object]:
    app = Flask(__name__)
    app.json.sort_keys = False  # as create_app sets it
    with app.app_context():
        fast = model_response(model, 201)
        slow = jsonify(model.model_dump(mode="json"))
    assert fast.status_code == 201 and fast.mimetype == "application/json"
    return json.loads(fast.get_data()), json.loads(slow.get_data())


def test_the_same_values_and_field_order_as_jsonify():
    model = Outer(
        name="Zoë O'Brien 中文 \U0001f600",
        count=3,
        missing=None,
        inner=[Inner(when=datetime(2026, 12, 7, 13, 5, 1, 123456, tzinfo=UTC), ratio=0.527656245354158)],
        extra={"b": 1, "a": [1.5, None, "x"]},
    )
    fast, slow = _both(model)
    assert fast == slow
    assert list(fast) == ["name", "count", "missing", "inner", "extra"]  # the contract's order
    assert list(fast["extra"]) == ["b", "a"]


def test_text_utf8_cannot_carry_is_escaped_rather_than_failing():
    fast, slow = _both(Outer(name="a\ud800b", count=0, missing=None, inner=[], extra={}))
    assert fast == slow and fast["name"] == "a\ud800b"
