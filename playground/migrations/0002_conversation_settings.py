from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("playground", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="settings",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
