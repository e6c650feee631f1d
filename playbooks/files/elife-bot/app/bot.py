# What worker.py and decider.py share: N forked pollers (the old `-f N`), each logging
# as ROLE_<pid> until SIGTERM. The real ones poll Amazon SWF with the access keys, the
# domain and the task list; these read the same settings and sleep.
import multiprocessing
import os
import time

import log
from provider import process, utils


def poll(role, what, settings):
    identity = f"{role}_{os.getpid()}"
    logger = log.logger(f"{role}.log", settings.setLevel, identity)

    def work(flag):
        while flag.green():
            logger.info(f"polling for {what}... (domain {settings.domain}, task list {settings.default_task_list})")
            time.sleep(60)
        logger.info("graceful shutdown")

    process.monitor_interrupt(work)


def main(role, what):
    env, forks = utils.console_start_env()
    settings = utils.get_settings(env)
    # what the real ones need before they poll
    for field in ("aws_access_key_id", "aws_secret_access_key", "domain", "default_task_list", "setLevel"):
        getattr(settings, field)
    children = [multiprocessing.Process(target=poll, args=(role, what, settings)) for _ in range(forks)]
    for c in children:
        c.start()
    for c in children:
        c.join()
