from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Job",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("status", models.CharField(max_length=50)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("completed", models.DateTimeField(null=True)),
                ("celery_id", models.CharField(max_length=50)),
            ],
        ),
    ]
