# What worker.py and decider.py share: N forked pollers (the old `-f N`), each logging
# as ROLE_<pid> until SIGTERM. The real ones poll Amazon SWF with the access keys, the
# domain and the task list; these read the same settings and sleep. Each says, when it
# starts, the checkout's commit and the elifetools it imported, as read when the process
# started: what a deploy must restart to change.
import multiprocessing
import os
import subprocess
import time

import elifetools
import log
from provider import process, utils


def revision():
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def poll(role, what, settings, started):
    identity = f"{role}_{os.getpid()}"
    logger = log.logger(f"{role}.log", settings.setLevel, identity)
    logger.info(started)

    def work(flag):
        while flag.green():
            logger.info(f"polling for {what}... (domain {settings.domain}, task list {settings.default_task_list})")
            # a minute's poll, which a SIGTERM ends at the next second (the real ones'
            # long poll of SWF returns within a minute)
            for _ in range(60):
                if not flag.green():
                    break
                time.sleep(1)
        logger.info("graceful shutdown")

    process.monitor_interrupt(work)


def main(role, what):
    env, forks = utils.console_start_env()
    settings = utils.get_settings(env)
    # what the real ones need before they poll
    for field in ("aws_access_key_id", "aws_secret_access_key", "domain", "default_task_list", "setLevel"):
        getattr(settings, field)
    started = f"started: revision {revision()}, elifetools {elifetools.__version__} ({elifetools.CHANGE})"
    children = [multiprocessing.Process(target=poll, args=(role, what, settings, started)) for _ in range(forks)]
    for c in children:
        c.start()
    for c in children:
        c.join()
