"""Sending messages to people: one e-mail path for every app that tells someone something.

No models: each sender keeps its own record of what it sent (SLA notifications, critical
result notifications) and its own claim-before-send; this only sends, and turns a failure
into an answer.
"""
