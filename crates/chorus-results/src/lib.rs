//! Result files shared by both binaries: Feather v2 (Arrow IPC file) plus CSV with run parameters in the schema metadata; atomic writes and resumable runs.
