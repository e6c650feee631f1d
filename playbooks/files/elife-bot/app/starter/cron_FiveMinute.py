# The workflow cron.py starts on every run (elifesciences/elife-bot, starter/cron_FiveMinute.py).
# The real one starts a Ping workflow on SWF; the stand-in records the start in starts.log.
import datetime
import os


class cron_FiveMinute:
    def start(self, settings):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(os.getcwd(), "starts.log"), "a") as f:
            f.write(f"{stamp} cron_FiveMinute {settings.domain}\n")
