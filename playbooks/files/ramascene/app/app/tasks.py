from ramasceneMasterProject.celery import app


@app.task
def calculate(query):
    return len(query)
