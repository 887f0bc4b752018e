"""Errors of segments, campaigns and launches (mapped to HTTP by shared.api)."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Unprocessable


class SegmentNotFound(NotFound):
    CODE = "segment_not_found"
    MESSAGE = "No segment has this id."


class CampaignNotFound(NotFound):
    CODE = "campaign_not_found"
    MESSAGE = "No campaign has this id."


class InvalidSegmentRule(Unprocessable):
    CODE = "invalid_segment_rule"
    MESSAGE = "The segment rule is not valid."


class InvalidCampaign(Unprocessable):
    CODE = "invalid_campaign"
    MESSAGE = "The campaign is not valid."


class NoAudienceSnapshot(Conflict):
    CODE = "audience_snapshot_missing"
    MESSAGE = "No audience snapshot exists yet; POST /v1/admin/audience/snapshots and retry."


class CampaignNotLaunchable(Conflict):
    CODE = "campaign_not_launchable"
    MESSAGE = "The campaign is not in a state that can be launched."


class OffersUnavailable(RuntimeError):
    """Loyalty's offers function failed (the request fails with a 5xx; nothing was written)."""


class CampaignNotEditable(Conflict):
    CODE = "campaign_not_editable"
    MESSAGE = "Only a draft campaign can be edited."


class CampaignChanged(Conflict):
    CODE = "campaign_changed"
    MESSAGE = "The campaign changed while this request was made; read it again and retry."


class CampaignNotCancellable(Conflict):
    CODE = "campaign_not_cancellable"
    MESSAGE = "The campaign is not in a state that can be cancelled."
