"""Members settings read from the environment."""

from __future__ import annotations


def test_export_parts_setting_is_comma_separated():
    from services.members.models.settings import MembersSettings
    from shared.settings import load

    env = {"STAGE": "t", "EVENT_BUS_NAME": "b", "SERVICE_NAME": "members", "TABLE_NAME": "x"}
    assert load(MembersSettings, env).member_export_parts == ("loyalty", "tickets", "campaigns")
    custom = load(MembersSettings, {**env, "MEMBER_EXPORT_PARTS": "loyalty, tickets"})
    assert custom.member_export_parts == ("loyalty", "tickets")
