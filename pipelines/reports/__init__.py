"""Reports for regulators: what a run folder says about one zone and period, as a document.

``pilotzone report`` reads the folder a replay, a stream or a demo wrote (``rundir``), computes
the figures per operator and vehicle class (``figures``), the zone grade (``grade``) and each
incident's reporting obligation (``filings``), draws the zone and the figures as inline SVG
(``svgmap``, ``svgcharts``), and writes one self-contained HTML document (``html``) that
Chromium prints to PDF (``pdf``). ``public`` makes the version that may be published: no
vehicle ids, locations on a coarse grid, no figure about fewer than k vehicles.

Nothing here imports Apache Beam: a regulator's laptop needs no runner to read a run.
"""
