# `python worker.py -e ENV [-f N]` (elifesciences/elife-bot, worker.py): activity workers.
import bot

if __name__ == "__main__":
    bot.main("worker", "activity")
