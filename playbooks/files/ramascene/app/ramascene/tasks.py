# The calculation task (CMLPlatform/ramascene, ramascene/tasks.py), sent to the queue
# `calc_default`, or `modelling` for a request with model details.
from ramasceneMasterProject.celery import app


@app.task
def calc(query):
    return {"query": query, "result": len(query)}
