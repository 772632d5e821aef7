"""The workflow models, moved here from ``interactions`` with their tables (``db_table``): state only.

The content types move too, so admin history and permissions follow the models.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MODELS = ["workflow", "workflowstep", "enrollment", "steprun", "task"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="interactions", model__in=MODELS).update(app_label="workflows")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="workflows", model__in=MODELS).update(app_label="interactions")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('interactions', '0006_move_workflows_out'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('messaging', '0002_idempotency_key'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Workflow',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('collection', 'Collection'), ('lead_follow_up', 'Lead follow-up')], max_length=16)),
                        ('name', models.CharField(max_length=120)),
                        ('active', models.BooleanField(default=True, help_text='Switched off: no new enrollments, and steps of current enrollments wait.')),
                        ('is_default', models.BooleanField(default=False, help_text='New leads (lead follow-up) or customers whose balance falls due (collection) join the default workflow of that kind automatically. Making this the default replaces the previous one.', verbose_name='default')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='workflows', to='interactions.organization')),
                    ],
                    options={
                        'db_table': 'interactions_workflow',
                        'ordering': ['kind', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='Enrollment',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('active', 'Active'), ('completed', 'Completed'), ('stopped', 'Stopped')], default='active', max_length=16)),
                        ('source', models.CharField(choices=[('agent', 'Agent'), ('api', 'API'), ('automatic', 'Automatic')], max_length=16)),
                        ('started_at', models.DateTimeField(help_text="Day offsets count from this moment's date.")),
                        ('next_due_at', models.DateTimeField(blank=True, null=True)),
                        ('ended_at', models.DateTimeField(blank=True, null=True)),
                        ('end_reason', models.CharField(blank=True, choices=[('completed', 'All steps done'), ('converted', 'Lead converted'), ('lost', 'Lead lost'), ('paid', 'Balance paid'), ('opted_out', 'Opted out of texts'), ('stopped', 'Stopped by an agent')], max_length=16)),
                        ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='enrollments', to='interactions.customer')),
                        ('ended_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('enrolled_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('lead', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='enrollments', to='interactions.lead')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='enrollments', to='interactions.organization')),
                        ('workflow', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='enrollments', to='workflows.workflow')),
                    ],
                    options={
                        'db_table': 'interactions_enrollment',
                        'ordering': ['-started_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='WorkflowStep',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day_offset', models.PositiveSmallIntegerField(help_text='Days after enrollment; 0 is the day itself.', verbose_name='day')),
                        ('time_of_day', models.TimeField(help_text="In the facility's time zone.")),
                        ('action', models.CharField(choices=[('manual_text', 'Manual text (agent sends)'), ('automatic_text', 'Automatic text'), ('call_reminder', 'Call reminder')], max_length=16)),
                        ('instructions', models.CharField(blank=True, help_text='Shown to the agent on the task.', max_length=300)),
                        ('template', models.ForeignKey(blank=True, help_text='Required for texts; for a call reminder, an optional script.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='workflow_steps', to='messaging.messagetemplate')),
                        ('workflow', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='workflows.workflow')),
                    ],
                    options={
                        'db_table': 'interactions_workflowstep',
                        'ordering': ['day_offset', 'time_of_day', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Task',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('manual_text', 'Manual text'), ('call_reminder', 'Call reminder')], max_length=16)),
                        ('status', models.CharField(choices=[('open', 'Open'), ('done', 'Done'), ('skipped', 'Skipped')], default='open', max_length=8)),
                        ('due_at', models.DateTimeField()),
                        ('skip_reason', models.CharField(blank=True, max_length=300)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('completed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='interactions.customer')),
                        ('enrollment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='workflows.enrollment')),
                        ('lead', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='interactions.lead')),
                        ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='messaging.message')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='interactions.organization')),
                        ('step', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tasks', to='workflows.workflowstep')),
                    ],
                    options={
                        'db_table': 'interactions_task',
                        'ordering': ['due_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='StepRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('due_at', models.DateTimeField()),
                        ('ran_at', models.DateTimeField()),
                        ('outcome', models.CharField(choices=[('text_queued', 'Text sent'), ('text_scheduled', 'Text held until texting hours'), ('text_refused', 'Text not sent'), ('task_created', 'Task created')], max_length=16)),
                        ('refusal_code', models.CharField(blank=True, max_length=32)),
                        ('refusal_detail', models.CharField(blank=True, max_length=500)),
                        ('enrollment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='step_runs', to='workflows.enrollment')),
                        ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='messaging.message')),
                        ('step', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='runs', to='workflows.workflowstep')),
                    ],
                    options={
                        'db_table': 'interactions_steprun',
                        'ordering': ['due_at', 'id'],
                    },
                ),
                migrations.AddField(
                    model_name='enrollment',
                    name='next_step',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='workflows.workflowstep'),
                ),
                migrations.AddConstraint(
                    model_name='workflow',
                    constraint=models.UniqueConstraint(fields=('organization', 'name'), name='workflow_name_unique_per_org'),
                ),
                migrations.AddConstraint(
                    model_name='workflow',
                    constraint=models.UniqueConstraint(condition=models.Q(('is_default', True)), fields=('organization', 'kind'), name='one_default_workflow_per_kind'),
                ),
                migrations.AddIndex(
                    model_name='task',
                    index=models.Index(fields=['organization', 'status', 'due_at'], name='interaction_organiz_3d702a_idx'),
                ),
                migrations.AddConstraint(
                    model_name='task',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('lead__isnull', False), ('customer__isnull', True)), models.Q(('lead__isnull', True), ('customer__isnull', False)), _connector='OR'), name='task_has_exactly_one_owner'),
                ),
                migrations.AddConstraint(
                    model_name='task',
                    constraint=models.UniqueConstraint(fields=('enrollment', 'step'), name='one_task_per_enrollment_step'),
                ),
                migrations.AddConstraint(
                    model_name='steprun',
                    constraint=models.UniqueConstraint(fields=('enrollment', 'step'), name='one_run_per_enrollment_step'),
                ),
                migrations.AddIndex(
                    model_name='enrollment',
                    index=models.Index(fields=['status', 'next_due_at'], name='interaction_status_4c115c_idx'),
                ),
                migrations.AddConstraint(
                    model_name='enrollment',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('lead__isnull', False), ('customer__isnull', True)), models.Q(('lead__isnull', True), ('customer__isnull', False)), _connector='OR'), name='enrollment_has_exactly_one_owner'),
                ),
                migrations.AddConstraint(
                    model_name='enrollment',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'active')), fields=('lead',), name='one_active_enrollment_per_lead'),
                ),
                migrations.AddConstraint(
                    model_name='enrollment',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'active')), fields=('customer',), name='one_active_enrollment_per_customer'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
