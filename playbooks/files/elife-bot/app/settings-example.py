# "Resave settings-example.py as settings.py, and enter your AWS credentials" (the
# project's README): one class per environment, chosen by `get_settings(ENV)`.


class dev:
    aws_access_key_id = ""
    aws_secret_access_key = ""
    domain = "Publish.dev"
    default_task_list = "DefaultTaskList"
    setLevel = "INFO"


class live(dev):
    domain = "Publish"


def get_settings(ENV="dev"):
    return eval(ENV)
