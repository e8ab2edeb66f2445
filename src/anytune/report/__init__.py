"""Self-contained HTML reports (no CDN, no script: plots are PNG images embedded as data URIs).

``html`` holds the one renderer every report uses (page, tables, figures); ``job`` builds ``anytune report``'s
page for a job or model folder. A sweep report is the same parts arranged differently.
"""
