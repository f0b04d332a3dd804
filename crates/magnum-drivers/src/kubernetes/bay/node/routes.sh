#!/bin/sh
# Makes this node's routes to the other nodes' pod ranges exactly those /etc/magnum/routes lists
# ("<pod range> <node address>" per line): the conductor rewrites the file and runs this when
# the bay's membership changes, and the node runs it at every start.
set -eu
want=/etc/magnum/routes
[ -f "$want" ] || exit 0
while read -r range via; do
  [ -n "$range" ] && ip route replace "$range" via "$via"
done <"$want"
# A route through another node that the file no longer lists goes (no other route is touched).
ip route show | while read -r range word via _; do
  [ "$word" = via ] && [ "$range" != default ] || continue
  grep -q "^$range $via\$" "$want" || ip route del "$range" via "$via"
done
