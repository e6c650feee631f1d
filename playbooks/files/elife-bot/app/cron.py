# `python cron.py -e ENV`, every five minutes (elifesciences/elife-bot, cron.py): one pass
# that starts the workflows due now; cron_FiveMinute is due on every pass.
import datetime
import importlib
import random

import log
import pytz
from provider import utils

identity = f"cron_{random.randint(1, 100000)}"
logger = log.logger("cron.log", "INFO", identity)


def run_cron(settings):
    now = datetime.datetime.now(pytz.utc)
    logger.info(f"current_datetime: {now.isoformat()}")
    for workflow_id in ("cron_FiveMinute",):
        module = importlib.import_module(f"starter.{workflow_id}")
        logger.info(f"starting {workflow_id}, workflow_id {workflow_id}")
        getattr(module, workflow_id)().start(settings=settings)


if __name__ == "__main__":
    env, _ = utils.console_start_env()
    settings = utils.get_settings(env)
    for field in ("aws_access_key_id", "aws_secret_access_key", "domain"):
        getattr(settings, field)
    run_cron(settings)
