from __future__ import annotations

import pytest

from shared import errors


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (errors.BadRequest, 400, "bad_request"),
        (errors.Unauthorized, 401, "unauthorized"),
        (errors.Forbidden, 403, "forbidden"),
        (errors.NotFound, 404, "not_found"),
        (errors.Conflict, 409, "conflict"),
        (errors.Unprocessable, 422, "validation_failed"),
        (errors.TooManyRequests, 429, "too_many_requests"),
    ],
)
def test_each_error_has_its_status_and_default_code(cls, status, code):
    err = cls()
    assert isinstance(err, errors.MallCrmError)
    assert err.status == status
    assert err.code == code
    assert err.body() == {"error": {"code": code, "message": err.message, "fields": []}}


def test_specific_code_message_and_fields():
    err = errors.Conflict("purchase_already_refunded", "This purchase was refunded.")
    assert (err.status, err.code, err.message) == (
        409,
        "purchase_already_refunded",
        "This purchase was refunded.",
    )
    invalid = errors.Unprocessable(fields=[{"field": "items.0.sku", "message": "required"}])
    assert invalid.body()["error"]["fields"] == [{"field": "items.0.sku", "message": "required"}]


def test_base_error_takes_the_status_explicitly():
    err = errors.MallCrmError(413, "payload_too_large", "Too big.")
    assert err.status == 413
    assert err.body()["error"]["code"] == "payload_too_large"


def test_error_body_shape():
    assert errors.error_body("x", "y") == {"error": {"code": "x", "message": "y", "fields": []}}
    assert errors.error_body("x", "y", [{"field": "a.b", "message": "m", "extra": "dropped"}]) == {
        "error": {"code": "x", "message": "y", "fields": [{"field": "a.b", "message": "m"}]}
    }
