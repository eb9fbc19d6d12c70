from wirelab.cli.main import main

main()
