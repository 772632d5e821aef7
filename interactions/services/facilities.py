"""A facility's SMS sender: the carrier's flag and the manager's record of its registration."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from core.errors import ServiceError

from ..models import Facility


def facility_sender_flag(*, facility: Facility, reason: str, now: datetime | None = None) -> Facility:
    """The carrier refused a text because the facility's sender is not registered or verified.

    The facility's sender becomes ``unregistered``: every next text from it is refused with
    ``sender_not_registered`` until a manager records the registration (``facility_sender_register``).
    """
    now = now or timezone.now()
    Facility.objects.filter(pk=facility.pk).update(
        sender_registration=Facility.Registration.UNREGISTERED, sender_flagged_at=now, sender_flag_reason=reason[:300]
    )
    facility.sender_registration = Facility.Registration.UNREGISTERED
    facility.sender_flagged_at, facility.sender_flag_reason = now, reason[:300]
    return facility


def facility_sender_register(
    *,
    facility: Facility,
    registration: str,
    brand_id: str = "",
    campaign_id: str = "",
    toll_free_verification_id: str = "",
) -> Facility:
    """Record the registration of a facility's sender (10DLC brand and campaign, or toll-free verification).

    Approved needs either a brand and a campaign id or a toll-free verification id. Any new status
    clears the carrier's flag: the manager has acted.
    """
    if registration not in Facility.Registration.values:
        raise ServiceError(
            "invalid_registration",
            f"Choose a registration status: {', '.join(Facility.Registration.values)}.",
            field="sender_registration",
        )
    brand_id, campaign_id, toll_free = brand_id.strip(), campaign_id.strip(), toll_free_verification_id.strip()
    if registration == Facility.Registration.APPROVED and not ((brand_id and campaign_id) or toll_free):
        raise ServiceError(
            "registration_incomplete",
            "An approved sender needs its 10DLC brand id and campaign id, or its toll-free verification id.",
            field="sender_campaign_id",
        )
    facility.sender_registration = registration
    facility.sender_brand_id, facility.sender_campaign_id = brand_id, campaign_id
    facility.sender_toll_free_verification_id = toll_free
    facility.sender_flagged_at, facility.sender_flag_reason = None, ""
    if facility.pk:
        facility.save(
            update_fields=[
                "sender_registration",
                "sender_brand_id",
                "sender_campaign_id",
                "sender_toll_free_verification_id",
                "sender_flagged_at",
                "sender_flag_reason",
            ]
        )
    return facility
