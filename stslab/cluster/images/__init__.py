"""Images built without a registry: Debian root filesystems, OCI archives, and what is made of them.

:mod:`~.rootfs` makes cached Debian root filesystems; :mod:`~.oci` packs one as an OCI image
archive; :mod:`~.zookeeper` is lab 05's ZooKeeper image; :mod:`~.kindnode` is kind's offline
node image, with those images preloaded.
"""
