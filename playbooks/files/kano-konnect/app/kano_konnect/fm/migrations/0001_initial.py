from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Facility",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("facility_name", models.CharField(max_length=100)),
                ("facility_type", models.CharField(blank=True, max_length=50)),
                ("facility_status", models.CharField(blank=True, max_length=50)),
                ("recorded_by", models.CharField(max_length=100)),
            ],
        ),
    ]
