from fleetpatch.cli.main import main

main()
