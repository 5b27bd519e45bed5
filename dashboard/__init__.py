"""Spack build-cache dashboard.

Pipeline: :mod:`dashboard.load` (pages -> DataFrames, Parquet cache) ->
:mod:`dashboard.query` (pure functions over those DataFrames) ->
:mod:`dashboard.views` (hvPlot heatmaps, Tabulator) -> :mod:`dashboard.app`
(Panel layout and wiring).  Importing this package imports no Panel code.
"""

__version__ = "0.1.0"
