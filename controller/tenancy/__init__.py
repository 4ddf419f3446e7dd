"""Shared clusters: which Google identity, projects, data and limits each namespace's resources get.

`Tenancy.admit(obj)` is the one question the reconciler asks before any Google call; `admission` builds the
ValidatingAdmissionPolicy that asks the same questions at `kubectl apply`; `rules` holds those questions once
for both.
"""

from controller.tenancy.admit import AdmitFn, Decision, Tenancy

__all__ = ["AdmitFn", "Decision", "Tenancy"]
