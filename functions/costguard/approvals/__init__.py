"""Approve remediation with Slack buttons: signed, authorised, exactly once, safe, audited.

signature  verify Slack's request signature on the raw body (constant time, 5-minute window)
model      the block_actions payload as parsed at the edge, button ids, queue jobs
actions    the action registry: each action declares its IAM permissions, preconditions and re-check
authz      who may approve what (user ids, user groups, two-person actions)
store      replay guard, approvals, claims, audit rows, snoozes (DynamoDB and an in-memory twin)
intake     the interactivity endpoint's service: validate, authorise, record, enqueue (fast)
execute    the worker's service: claim, re-check, act (or dry-run), audit, tell Slack
"""
