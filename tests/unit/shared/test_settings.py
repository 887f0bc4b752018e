from __future__ import annotations

import pytest

from shared.settings import ServiceSettings, SettingsError, load


class LoyaltySettings(ServiceSettings):
    state_machine_arn: str
    points_per_yuan: int = 1


def test_given_the_function_environment_when_loaded_then_fields_come_from_upper_case_names(service_env):
    settings = load(ServiceSettings)
    assert settings.stage == "test"
    assert settings.service_name == "loyalty"
    assert settings.event_bus_name == "mallcrm-test"
    assert settings.table_name == "mallcrm-test-loyalty"
    assert settings.mall_timezone == "Asia/Shanghai"
    assert settings.log_level == "INFO"


def test_settings_are_read_at_call_time_not_import(service_env, monkeypatch):
    first = load(ServiceSettings)
    monkeypatch.setenv("TABLE_NAME", "other-table")
    assert load(ServiceSettings).table_name == "other-table"
    assert first.table_name == "mallcrm-test-loyalty"


def test_optional_and_default_fields(service_env, monkeypatch):
    monkeypatch.delenv("TABLE_NAME")
    monkeypatch.delenv("MALL_TIMEZONE")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load(ServiceSettings)
    assert settings.table_name is None
    assert settings.mall_timezone == "Asia/Shanghai"
    assert settings.log_level == "DEBUG"


def test_empty_variable_counts_as_unset(service_env, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "")
    assert load(ServiceSettings).table_name is None


def test_missing_variables_are_all_named(service_env, monkeypatch):
    monkeypatch.delenv("STAGE")
    monkeypatch.delenv("EVENT_BUS_NAME")
    with pytest.raises(SettingsError) as caught:
        load(ServiceSettings)
    assert caught.value.missing == ["EVENT_BUS_NAME", "STAGE"]
    assert "EVENT_BUS_NAME" in str(caught.value)
    assert "STAGE" in str(caught.value)


def test_invalid_values_are_named_without_echoing_them(service_env, monkeypatch):
    monkeypatch.setenv("MALL_TIMEZONE", "Secret/Value")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as caught:
        load(ServiceSettings)
    message = str(caught.value)
    assert "MALL_TIMEZONE" in message
    assert "LOG_LEVEL" in message
    assert "LOUD" not in message


def test_a_service_extends_the_model_and_extra_environment_is_ignored(service_env, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:x")
    monkeypatch.setenv("UNRELATED", "x")
    settings = load(LoyaltySettings)
    assert settings.state_machine_arn.endswith(":x")
    assert settings.points_per_yuan == 1


def test_an_explicit_mapping_can_replace_the_environment():
    settings = load(ServiceSettings, {"STAGE": "dev", "SERVICE_NAME": "members", "EVENT_BUS_NAME": "b"})
    assert settings.service_name == "members"


def test_load_reads_the_environment_on_every_call_and_revalidates_only_on_change(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load(ServiceSettings)
    assert load(ServiceSettings) is first  # unchanged variables: the validated instance is reused
    monkeypatch.setenv("STAGE", "other")
    changed = load(ServiceSettings)
    assert changed.stage == "other"
    monkeypatch.setenv("MALL_TIMEZONE", "Not/AZone")
    with pytest.raises(SettingsError):
        load(ServiceSettings)  # an invalid change is still refused, never served from the cache
