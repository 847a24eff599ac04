#!/bin/bash
# Stops npm run models when it reaches its table stage (the tables run by hand: tables.sh), after its offline stage:
# kills the command's process group (models.ts and the train-reward it just started).
L=/work/main/data/runs/s14/logs/cmd.log
while ! grep -q 'reward-ablations' $L; do sleep 1; done
P=$(pgrep -f 'src/cli/models.ts --out models-new' | head -1)
G=$(ps -o pgid= -p $P | tr -d ' ')
kill -- -$G
echo "$(date -u +%T) stopped the command (pgid $G) at its table stage" >> /work/main/data/runs/s14/logs/tables.txt
