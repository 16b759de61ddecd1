"""The incident register: every incident the monitor raises, in a real database, with what
its operator owes the zone authority.

``store`` (the ``Register``: SQLite by default, PostgreSQL for deployments, one schema with
numbered ``migrations``), ``obligations`` (report deadlines and their status as of a moment:
due, overdue, filed, not required), ``metrics`` (report counts for Prometheus, read at each
scrape) and ``sink`` (the Beam step the replay and the stream write through; it is the only
module here that imports Apache Beam, so ``pilotzone incidents`` starts fast).
"""
