"""``manage.py seed_demo``: the demo data of ``make run``, safe to load again."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client

from interactions.models import Consent, Customer, Lead, Membership, PhoneNumber


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    project_models = [m for m in apps.get_models() if m._meta.app_label in ("interactions", "messaging", "auth")]
    return {m._meta.label: m._default_manager.count() for m in project_models}


def test_seed_demo_twice_changes_nothing_and_the_demo_users_sign_in(db):
    seed()
    first = counts()

    output = seed()

    assert counts() == first
    assert "agent or manager, password demo12345" in output
    assert (first["interactions.Lead"], first["interactions.Customer"], first["interactions.Facility"]) == (20, 20, 4)
    for username in ("agent", "manager"):
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": "demo12345"})
        assert response.status_code == 302, username
        assert client.get("/").status_code == 200
        assert client.get("/admin/").status_code == 200
        assert Membership.objects.get(user__username=username).role == username


def test_the_demo_has_one_primary_per_record_and_every_kind_of_consent(db):
    seed()

    for person in [*Lead.objects.all(), *Customer.objects.all()]:
        assert person.phone_numbers.filter(is_primary=True).count() == 1, person
    assert not PhoneNumber.objects.filter(customer__isnull=False).exclude(source="pms").exists()
    assert set(Consent.objects.values_list("status", flat=True)) == {"granted", "revoked"}
    assert Consent.objects.filter(person_opted_out_at__isnull=False).exists()
    assert Consent.objects.count() < PhoneNumber.objects.filter(is_primary=True).count()  # some have none on record


def test_at_every_hour_of_the_year_someone_in_the_demo_can_be_texted_and_someone_cannot(db):
    """A newcomer trying ``make run`` from Europe or Asia finds someone to text, and a quiet-hours case too."""
    import datetime as dt

    from messaging.selectors import texting_now

    seed()
    org = Lead.objects.first().organization
    people = [
        *Lead.objects.prefetch_related("phone_numbers").select_related("facility"),
        *Customer.objects.prefetch_related("phone_numbers").select_related("facility"),
    ]
    for day in (dt.date(2026, 1, 15), dt.date(2026, 7, 15)):  # standard and daylight-saving time
        for minute in range(0, 24 * 60, 15):
            now = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
            statuses = texting_now(organization=org, people=people, now=now).values()
            assert any(s.allowed for s in statuses), f"nobody can be texted at {now:%Y-%m-%d %H:%M} UTC"
            assert any(s.reason.startswith("quiet hours") for s in statuses), f"no quiet-hours case at {now}"


def test_the_home_list_says_who_can_be_texted_now_in_their_own_time(db):
    seed()
    client = Client()
    client.force_login(Membership.objects.get(user__username="agent").user)

    html = client.get("/").content.decode()

    assert "Texting now" in html
    assert 'data-texting-now="yes"' in html or 'data-texting-now="no"' in html
    assert "no text permission" in html or "opted out" in html


def test_the_demo_opt_outs_are_history_and_text_nobody_while_seeding(db, outbox):
    from messaging.models import Message
    from tests.factories import OrganizationFactory

    # Even for an organization that sends its own STOP confirmations (Twilio's reply turned off).
    OrganizationFactory(slug="demo-storage", name="Demo Storage Co", twilio_replies_to_stop=False)
    seed()

    assert Consent.objects.filter(status=Consent.Status.REVOKED).exists()
    assert not Message.objects.exclude(confirms_event=None).exists()  # no confirmation texts for past STOPs
    assert not Lead.objects.first().organization.twilio_replies_to_stop  # the organization's own setting is back


def test_seed_demo_never_calls_a_paid_provider_api(db, settings, monkeypatch, django_capture_on_commit_callbacks):
    """Seeding makes no line-type lookup (the demo's are stored as "(demo lookup)"), even once the
    lookups each added number queues after commit have run, nor does the periodic lookup later."""
    from django.utils import timezone

    from messaging.backends import locmem
    from messaging.services import line_types_lookup_pending

    settings.SMS_BACKEND, settings.LINE_TYPE_LOOKUP = "locmem", True
    asked: list[str] = []
    real_lookup = locmem.LocmemBackend.lookup_line_type
    monkeypatch.setattr(  # a spy on the in-memory backend: which numbers were asked about
        locmem.LocmemBackend, "lookup_line_type", lambda self, number: asked.append(number) or real_lookup(self, number)
    )
    with django_capture_on_commit_callbacks(execute=True) as queued:
        seed()
    seed()
    assert line_types_lookup_pending(now=timezone.now() + timedelta(hours=1)) == 0

    assert queued  # the lookups were queued, ran, and found every line type already known
    assert asked == []
    assert not PhoneNumber.objects.filter(line_type_checked_at__isnull=True).exists()
    assert not PhoneNumber.objects.filter(line_type_demo=False).exists()  # labelled "(demo lookup)"


def test_seed_demo_refuses_a_paid_provider_and_calls_nothing(db, twilio_server):
    """Pointed at Twilio, seeding refuses before any row: the demo's workflows would text its
    fictional people and every number would be a paid Lookup."""
    with pytest.raises(CommandError, match="paid provider"):
        seed()

    assert twilio_server.requests == []
    assert not Lead.objects.exists()
