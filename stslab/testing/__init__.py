"""Stand-ins our tests start for real parts: a kubelet's device-plugin side, a Docker engine."""
