"""Science library of the forecast service: GraphCast model, data, verification, plots.

Plain Python: nothing here imports Django, Celery or Prefect (a test enforces it).
"""

# pyproj (cartopy's projections) must initialise its bundled PROJ/libcurl before netCDF4 opens
# any file in the process, or the heap is corrupted and the process aborts at exit ("double
# free or corruption"). Entry points import `forecast` before reading data, so load it here.
import pyproj  # noqa: E402, F401
