// RUN: not pw-translate --sched-to-torch-csv %s 2>&1 | FileCheck %s

// CHECK: error: torch CSV export needs exactly one sched.program, found 0; compile the spec first
pipe.pipeline @spec ranks = 2 microbatches = 2 schedule = "gpipe" {
}
