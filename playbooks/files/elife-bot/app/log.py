# log.logger(logFile, setLevel, identity), as the real log.py (elifesciences/elife-bot):
# the file in the working directory, `%(asctime)s %(levelname)s IDENTITY %(message)s`.
import logging
import logging.handlers
import os


def logger(logFile=None, setLevel="INFO", identity=""):
    log = logging.getLogger("elife-bot")
    log.setLevel(getattr(logging, setLevel))
    if not log.handlers:
        handler = logging.handlers.WatchedFileHandler(os.path.join(os.getcwd(), logFile))
        fmt = "%(asctime)s %(levelname)s " + identity + " %(message)s"
        handler.setFormatter(logging.Formatter(fmt, "%Y-%m-%dT%H:%M:%SZ"))
        log.addHandler(handler)
    return log
