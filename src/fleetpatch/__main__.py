from fleetpatch.cli.main import run_process

run_process()
