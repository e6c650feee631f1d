# The command line and settings every entry point shares (elifesciences/elife-bot,
# provider/utils.py): `-e/--env` (default dev), `-f/--forks` as scripts/run_micro.sh
# passes them; unknown arguments (a service's instance number) ignored; settings from the
# top-level `settings` module.
import argparse
import importlib


def console_start_env():
    parser = argparse.ArgumentParser()
    parser.add_argument("-e", "--env", default="dev", help="set the environment to run, either dev or live")
    parser.add_argument("-f", "--forks", type=int, default=10)
    args, _ = parser.parse_known_args()
    return args.env, args.forks


def get_settings(env):
    return importlib.import_module("settings").get_settings(env)
