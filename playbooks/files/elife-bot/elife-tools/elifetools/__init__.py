# Stand-in for elifesciences/elife-tools, the article-parsing library the bot's
# requirements.txt pins by git revision (`git+...@COMMIT#egg=elifetools`): its version
# stays the same from one revision to the next, as the real one's often did.
__version__ = "0.10.0"

# what the revision changes (the real one's parsers); the bot logs it when it starts
CHANGE = "first"
