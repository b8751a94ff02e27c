#!/bin/bash
# Run 7's one script (the header there has the rule), the same for every learning rate: `command.sh 3e-5` made this run.
exec bash "$(dirname "$0")/../learning_svamp_pcot_ppo_run7_lr1e-5/command.sh" "$@"
