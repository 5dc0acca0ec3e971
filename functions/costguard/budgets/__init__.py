"""Budget alerts: AWS Budgets, billing-alarm and Cost Anomaly Detection notifications → enriched Slack alerts.

`model` parses every source into one typed `CostNotice` (pure), `enrich` adds month-to-date, forecast and top
movers from the spend watch's cost history (pure), `service` wires Cost Explorer, the store and Slack.
"""
