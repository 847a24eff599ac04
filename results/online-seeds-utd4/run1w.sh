#!/bin/bash
if [ "$1" = WAIT ]; then exec ./waitpid.sh "$2"; fi
exec ./run1.sh "$@"
