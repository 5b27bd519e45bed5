"""The Panel dashboard: one state object (:mod:`dashboard.ui.state`), the components that show it, the question views, the hvPlot/Tabulator views."""
