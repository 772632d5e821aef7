from __future__ import annotations

import pytest
from django.core.management import call_command

from workflows.models import Enrollment, StepRun, Task, Workflow


@pytest.mark.django_db
def test_seed_demo_leaves_work_on_the_outstanding_list_and_is_idempotent(client):
    call_command("seed_demo", verbosity=0)
    counts = (Workflow.objects.count(), Enrollment.objects.count(), StepRun.objects.count(), Task.objects.count())
    call_command("seed_demo", verbosity=0)

    assert (Workflow.objects.count(), Enrollment.objects.count(), StepRun.objects.count()) == counts[:3]
    assert Task.objects.count() == counts[3]
    assert {w.kind for w in Workflow.objects.filter(is_default=True)} == {"collection", "lead_follow_up"}
    assert Task.objects.filter(status="open").exists()
    client.login(username="agent", password="demo12345")
    html = client.get("/outstanding/").content.decode()
    assert 'class="task-row' in html
