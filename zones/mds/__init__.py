"""MDS Policy and Geography documents in and out of zone configs (no Beam).

Cities publish rules as Open Mobility Foundation MDS Policy documents whose rules point at
Geography documents. ``importer`` turns them into zone configs the loader accepts and says,
rule by rule, what could not be carried over; ``exporter`` publishes zone configs as MDS 2.0
documents. ``documents`` reads and checks the JSON, ``schema`` holds the MDS JSON Schemas,
``units`` the exact unit, vehicle-type and schedule conversions, ``shapes`` the geometry.
"""
