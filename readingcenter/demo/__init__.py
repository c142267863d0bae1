"""The demo, in one place: its data loaders and the commands that run it.

``make demo`` runs ``run_demo``: Orthanc, the web server, the workers, the ingest follower and
the simulated hospitals' receiving systems (``run_hospital_systems``), after ``load_demo`` has
loaded fixtures/demo.json (hospitals, users, privileges, shifts, SLA policies and clocks,
delivery endpoints, report templates, critical-result contacts); then ``send_studies`` plays
the hospitals sending studies. The hospitals' side itself is the Django-free ``simulator``
package.

An entry point, at the top of the layers: it may use any app, and no app uses it.
"""
