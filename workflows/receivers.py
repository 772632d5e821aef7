"""Enrollments follow what happens in the CRM, told by ``interactions.signals`` (sent by its services)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.dispatch import receiver

from interactions.models import Customer, Lead, Organization
from interactions.signals import customer_balance_changed, lead_changed, number_opted_out

from .services import enrollments_stop_for_number, enrollments_sync_customer, enrollments_sync_lead


@receiver(lead_changed, dispatch_uid="workflows.lead_changed")
def on_lead_changed(sender: Any, *, lead: Lead, created: bool, **kwargs: Any) -> None:
    enrollments_sync_lead(lead=lead, created=created)


@receiver(customer_balance_changed, dispatch_uid="workflows.customer_balance_changed")
def on_customer_balance_changed(
    sender: Any, *, customer: Customer, previous_balance: Decimal | None, **kwargs: Any
) -> None:
    enrollments_sync_customer(customer=customer, previous_balance=previous_balance)


@receiver(number_opted_out, dispatch_uid="workflows.number_opted_out")
def on_number_opted_out(sender: Any, *, organization: Organization, number: str, **kwargs: Any) -> None:
    enrollments_stop_for_number(organization=organization, number=number)
