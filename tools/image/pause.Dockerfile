# The Pod sandbox ("pause") image of the test node, built by tools/install-node-tools.sh from the static
# busybox of Debian's busybox-static package: it only has to hold the Pod's namespaces open.
FROM scratch
ENTRYPOINT ["/bin/busybox", "sleep", "2147483647"]
