"""The console in the terminal: `vertexops prompt`, `vertexops watch` and `vertexops compare`.

Everything is read from the cluster (the resource's status, with the user's own kubeconfig) and Google is
called with the user's own Application Default Credentials, so the console can do nothing the user could
not do with kubectl and gcloud. One module per command; `target` finds the resource, `google` builds the
clients, `render` draws.
"""
