from anytune.cli_serve import main

main()
