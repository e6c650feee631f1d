# Copy to settings.py and fill in the AWS credentials (converge renders it from
# templates/elife-bot/settings.py.j2 with secrets instead).
class dev:
    aws_access_key_id = ""
    aws_secret_access_key = ""
    region = "us-east-1"


class live:
    aws_access_key_id = ""
    aws_secret_access_key = ""
    region = "us-east-1"
