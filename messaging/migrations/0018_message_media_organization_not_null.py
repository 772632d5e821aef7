"""Every picture row has its organization now (0017 filled them): the column becomes NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0017_message_media_organization"),
    ]

    operations = [
        migrations.AlterField(
            model_name="messagemedia",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="interactions.organization",
            ),
        ),
    ]
