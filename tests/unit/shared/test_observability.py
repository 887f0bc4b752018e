from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from shared import observability
from shared.observability import mask_email, mask_name, mask_phone, redact, redact_text

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger


def test_mask_phone():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+86 138 1234 1234") == "+86138****1234"
    assert mask_phone("12") == "****"


def test_mask_email_and_name():
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("nonsense") == "****"
    assert mask_name("张三丰") == "张**"
    assert mask_name("Alice") == "A****"
    assert mask_name("李") == "*"


def test_redact_text_masks_phones_emails_and_id_cards_in_free_text():
    text = "会员 13812341234 / +8613912345678 mail bob@mall.cn id 11010519491231002X"
    masked = redact_text(text)
    assert "13812341234" not in masked
    assert "138****1234" in masked
    assert "+86139****5678" in masked
    assert "b***@mall.cn" in masked
    assert "11010519491231002X" not in masked


def test_redact_text_leaves_ids_and_numbers_alone():
    for text in [
        "event 01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "amount 25900 cents",
        "epoch 1714536000",
        "ms 1714536000123",
    ]:
        assert redact_text(text) == text


def test_redact_masks_pii_keys_at_any_depth_but_not_look_alikes():
    record = {
        "phone": "13812341234",
        "member": {"name": "张三", "email": "a@b.cn", "wechat_openid": "o-abc", "plates": ["沪A12345"]},
        "function_name": "loyalty-api",
        "service_name": "loyalty",
        "points": 100,
    }
    masked = redact(record)
    assert masked["phone"] == "138****1234"
    assert masked["member"] == {
        "name": "张*",
        "email": "a***@b.cn",
        "wechat_openid": "****",
        "plates": "****",
    }
    assert masked["function_name"] == "loyalty-api"
    assert masked["service_name"] == "loyalty"
    assert masked["points"] == 100


def fresh_logger(name: str) -> Logger:
    # Powertools binds its handler to sys.stdout when a logger is first built: build it inside the
    # test body (capsys swaps stdout only for the call phase), under a name no other test used.
    return observability.get_logger(f"redaction-{name}")


def test_given_a_phone_in_the_message_and_extra_keys_then_the_log_line_is_masked(capsys):
    logger = fresh_logger("message-and-keys")
    logger.info("member 13812341234 registered", extra={"phone": "13912345678", "address": "上海市某路1号"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "member 138****1234 registered"
    assert line["phone"] == "139****5678"
    assert line["address"] == "****"
    assert line["service"].startswith("redaction-")


def test_exception_text_is_masked_too(capsys):
    logger = fresh_logger("exception")
    try:
        raise ValueError("bad phone 13812341234")
    except ValueError:
        logger.exception("failed")
    out = capsys.readouterr().out
    assert "13812341234" not in out
    assert "138****1234" in out


def test_get_logger_is_cached_per_service():
    assert observability.get_logger("svc-a") is observability.get_logger("svc-a")
    assert observability.get_logger("svc-a") is not observability.get_logger("svc-b")


def test_the_powertools_formatter_is_usable_directly(capsys):
    from aws_lambda_powertools import Logger

    direct = Logger(service="direct-formatter", logger_formatter=observability.redacting_formatter())
    direct.info("call me on 13812341234")
    assert "138****1234" in capsys.readouterr().out


def test_metrics_and_tracer_are_powertools_objects():
    metrics = observability.get_metrics("loyalty")
    assert metrics.namespace == "MallCRM"
    tracer = observability.get_tracer("loyalty")
    assert tracer is not None
    assert logging.getLogger("loyalty") is not None


def test_the_tracer_is_built_on_the_first_invocation_not_at_import():
    """A handler module that only decorates with the tracer does not import the X-Ray SDK (and,
    through its sampler, botocore); the first invocation builds the real tracer and runs the
    handler through it."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from shared.observability import get_tracer\n"
        "tracer = get_tracer('probe')\n"
        "@tracer.capture_lambda_handler\n"
        "def handler(event, context):\n"
        "    return {'echo': event}\n"
        "assert 'aws_xray_sdk' not in sys.modules and 'botocore' not in sys.modules\n"
        "assert handler({'a': 1}, None) == {'echo': {'a': 1}}\n"
        "assert handler.__name__ == 'handler'\n"
        "assert 'aws_xray_sdk' in sys.modules\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_redact_text_masks_every_address_members_accepts_whole() -> None:
    # members accepts RFC 5322 atext in the local part (normalise_email): none of it may survive.
    from services.members.logic.identity import normalise_email

    for raw in [
        "o'brien+news@example.com",
        "a!b#c$d%e&f*g=h?i^j`k{l|m}n~o@mail.example.cn",
        "Zhang.San@QQ.com",
    ]:
        address = normalise_email(raw)
        masked = redact_text(f"send to {address} failed")
        assert masked == f"send to {address[0]}***@{address.partition('@')[2]} failed", masked
        assert address.partition("@")[0][1:] not in masked
    assert redact({"detail": {"member_email": "zhang@example.com"}}) == {
        "detail": {"member_email": "z***@example.com"}
    }
