"""Monthly processos: list, detail, approval, robot runs, state machine."""
