"""``{% enrollment_box person %}``: the card's workflow box (current workflow, next step, enroll/stop)."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context

from interactions.models import Customer, Lead

from ..selectors import enrollment_box_for, task_card_url

register = template.Library()


@register.inclusion_tag("workflows/_enrollment_box.html", takes_context=True)
def enrollment_box(context: Context, person: Lead | Customer) -> dict[str, Any]:
    box = enrollment_box_for(owner=person)
    for task in box.open_tasks:
        task.card_url = task_card_url(task)
    request = context.get("request")
    return {
        "person": person,
        "box": box,
        "csrf_token": context.get("csrf_token"),
        "here": request.get_full_path() if request else "",
        "time_zone": person.facility.time_zone,
    }
