# monitor_interrupt (elifesciences/elife-bot, provider/process.py): a flag that SIGTERM
# lowers, so the polling loop ends after its current pass ("graceful shutdown").
import signal


class Flag:
    def __init__(self):
        self.up = True

    def green(self):
        return self.up


def monitor_interrupt(work):
    flag = Flag()

    def stop(signum, frame):
        print(f"received signal {signum}")
        flag.up = False

    signal.signal(signal.SIGTERM, stop)
    work(flag)
