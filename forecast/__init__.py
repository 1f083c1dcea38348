"""Science library of the forecast service: GraphCast model, data, verification, plots.

Plain Python: nothing here imports Django, Celery or Prefect (a test enforces it).
"""
