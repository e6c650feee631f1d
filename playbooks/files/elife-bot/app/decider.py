# `python decider.py -e ENV [-f N]` (elifesciences/elife-bot, decider.py): deciders.
import bot

if __name__ == "__main__":
    bot.main("decider", "decision")
