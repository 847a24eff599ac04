#!/bin/bash
# a queue slot held until process $1 has ended
while kill -0 "$1" 2>/dev/null; do sleep 5; done
