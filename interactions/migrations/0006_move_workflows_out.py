"""Workflows, steps, enrollments, step runs and tasks moved to the ``workflows`` app.

Only Django's idea of where the models live changes: the tables stay as they are (``workflows``
0001 takes them over with ``db_table``), so no row is copied and nothing is dropped.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('interactions', '0005_history_latest_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='steprun',
                    name='enrollment',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='enrollment',
                ),
                migrations.RemoveField(
                    model_name='steprun',
                    name='message',
                ),
                migrations.RemoveField(
                    model_name='steprun',
                    name='step',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='completed_by',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='customer',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='lead',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='message',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='task',
                    name='step',
                ),
                migrations.RemoveField(
                    model_name='workflow',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='workflowstep',
                    name='workflow',
                ),
                migrations.RemoveField(
                    model_name='workflowstep',
                    name='template',
                ),
                migrations.DeleteModel(
                    name='Enrollment',
                ),
                migrations.DeleteModel(
                    name='StepRun',
                ),
                migrations.DeleteModel(
                    name='Task',
                ),
                migrations.DeleteModel(
                    name='Workflow',
                ),
                migrations.DeleteModel(
                    name='WorkflowStep',
                ),
            ],
            database_operations=[],
        ),
    ]
