"""elifebot ROLE [--env ENV] [--count N]: run N worker or decider threads (as
scripts/run_micro.sh started N processes), or one cron pass."""

import argparse
import datetime
import importlib.util
import os
import threading
import time


def settings(path):
    spec = importlib.util.spec_from_file_location("settings", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def log(logdir, role, env, text):
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with open(os.path.join(logdir, f"{role}-{env}.log"), "a") as f:
        f.write(f"{stamp} {text}\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["worker", "decider", "cron"])
    p.add_argument("-e", "--env", default="dev")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--settings", default="/home/localgit/elife-bot/settings.py")
    p.add_argument("--logdir", default="/var/log/elife-bot")
    args = p.parse_args()
    conf = settings(args.settings)
    region = getattr(conf, args.env).region
    if args.role == "cron":
        log(args.logdir, "cron", args.env, f"cron pass in {region}")
        return

    def loop(n):
        while True:
            log(args.logdir, args.role, args.env, f"{args.role} {n} polling {region}")
            time.sleep(60)

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(args.count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
