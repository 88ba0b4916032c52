// Targets, the update state machine, health checks, rollback and persistent state (see DESIGN.md).
